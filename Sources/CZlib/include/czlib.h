#ifndef CZLIB_H
#define CZLIB_H
#include <zlib.h>

/// Raw deflate (no zlib or gzip wrapper), for joining independently compressed segments into one gzip member.
/// `deflateInit2` is a macro, which Swift cannot call.
static inline int czlib_deflate_init_raw(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}

static inline int czlib_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 16 + 15);
}
#endif
