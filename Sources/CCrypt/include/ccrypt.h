#ifndef CCRYPT_H
#define CCRYPT_H

/// Verifies `password` against a crypt(3) hash (bcrypt `$2a$/$2b$/$2y$` via libxcrypt). Returns 1 on a match,
/// 0 otherwise. The comparison does not stop at the first differing byte.
int ccrypt_verify(const char *password, const char *hash);

#endif
