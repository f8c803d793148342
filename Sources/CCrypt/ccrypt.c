#include "ccrypt.h"
#include <crypt.h>
#include <string.h>

int ccrypt_verify(const char *password, const char *hash) {
    struct crypt_data data;
    memset(&data, 0, sizeof(data));
    const char *computed = crypt_r(password, hash, &data);
    if (computed == NULL || computed[0] == '*') {
        return 0;
    }
    size_t a = strlen(computed), b = strlen(hash);
    unsigned char difference = (unsigned char)(a != b);
    size_t n = a < b ? a : b;
    for (size_t i = 0; i < n; i++) {
        difference |= (unsigned char)(computed[i] ^ hash[i]);
    }
    return difference == 0;
}
