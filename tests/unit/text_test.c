/*
 * text_test: code points, not bytes, are counted; every malformed UTF-8
 * form and every control character is refused, so a student id means the
 * same thing to auth and to the gateway.
 */
#include "check.h"
#include "text.h"

#include <string.h>

static void counts_code_points_not_bytes(void) {
    char id[4 * 64 + 1] = "";
    CHECK(text_codepoints("a") == 1);
    CHECK(text_codepoints("") == 0);
    CHECK(text_codepoints("\xc3\xa9") == 1);         /* é */
    CHECK(text_codepoints("\xe2\x82\xac") == 1);     /* € */
    CHECK(text_codepoints("\xf0\x9f\x98\x80") == 1); /* an emoji */
    for (int i = 0; i < 37; i++)
        strcat(id, "\xc3\xa9");
    CHECK(strlen(id) == 74);
    CHECK(text_codepoints(id) == 37);
    id[0] = '\0';
    for (int i = 0; i < 64; i++)
        strcat(id, "\xf0\x9f\x98\x80");
    CHECK(strlen(id) == TEXT_ID_MAX_BYTES);
    CHECK(text_codepoints(id) == TEXT_ID_MAX_CHARS);
}

static void refuses_malformed_and_control(void) {
    CHECK(text_codepoints(NULL) == -1);
    CHECK(text_codepoints("a\x01") == -1);            /* C0 */
    CHECK(text_codepoints("a\x7f") == -1);            /* DEL */
    CHECK(text_codepoints("\xc2\x85") == -1);         /* C1 NEL */
    CHECK(text_codepoints("\xc3") == -1);             /* cut short */
    CHECK(text_codepoints("\xc0\xaf") == -1);         /* overlong / */
    CHECK(text_codepoints("\xed\xa0\x80") == -1);     /* a surrogate */
    CHECK(text_codepoints("\xf4\x90\x80\x80") == -1); /* past U+10FFFF */
    CHECK(text_codepoints("\xff") == -1);
    CHECK(text_codepoints("\x80") == -1); /* a lone continuation byte */
}

int main(void) {
    counts_code_points_not_bytes();
    refuses_malformed_and_control();
    return check_result("text_test");
}
