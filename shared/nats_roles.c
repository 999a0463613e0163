/*
 * qw-nats-roles: prints, from the roles table (roles.h), either the
 * authorization block of nats.conf (`--conf SECRET_DIR`, reading each
 * role's password from SECRET_DIR/nats-<role>.password), the roles x
 * subjects table of docs/ARCHITECTURE.md (`--doc`), the authorization
 * block with each password named as an environment variable
 * (`--conf-env`, compose/nats.conf) or the role names, one
 * a line (`--names`, for the scripts that make the passwords).
 */
#include "roles.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    int rc = 2;
    if (argc == 2 && strcmp(argv[1], "--doc") == 0) {
        roles_write_doc(stdout);
        rc = 0;
    } else if (argc == 2 && strcmp(argv[1], "--conf-env") == 0) {
        rc = roles_write_nats_conf(stdout, NULL) == 0 ? 0 : 1;
    } else if (argc == 2 && strcmp(argv[1], "--names") == 0) {
        for (const struct role *r = roles; r->name; r++)
            printf("%s\n", r->name);
        rc = 0;
    } else if (argc == 3 && strcmp(argv[1], "--conf") == 0) {
        rc = roles_write_nats_conf(stdout, argv[2]) == 0 ? 0 : 1;
    } else {
        fprintf(stderr, "usage: qw-nats-roles --doc | --names | --conf SECRET_DIR | --conf-env\n");
    }
    return rc;
}
