/*
 * qw-config-doc: prints docs/CONFIG.md from the settings table.
 */
#include "config.h"

int main(void) {
    config_write_doc(stdout);
    return 0;
}
