/*
 * ngx_microshop -- included before every file of the ASan build of the
 * module (make asan: gcc -include this file; docs/operations.md).
 *
 * Debian's nginx is not built with ASan, and a pool hands out pieces of
 * large blocks: a write past the end of a pool buffer lands in the next
 * piece, and ASan sees nothing.  So in this build every pool allocation
 * the module makes is a block of its own of exactly the size asked for
 * (ngx_pmemalign(), which nginx frees with the pool), as nginx's
 * NGX_DEBUG_PALLOC would do for all of nginx.  ngx_create_temp_buf() is
 * redone the same way, as the module writes its answers into such buffers.
 *
 * nginx's configure compiles its tests with the same flags: without the
 * nginx headers on the include path this file does nothing.
 */

#ifndef _NGX_MICROSHOP_ASAN_H_INCLUDED_
#define _NGX_MICROSHOP_ASAN_H_INCLUDED_

#if defined(__has_include)
#if __has_include(<ngx_auto_config.h>) && __has_include(<ngx_http.h>)

#include <ngx_config.h>
#include <ngx_core.h>


static ngx_inline void *
ngx_microshop_asan_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_pmemalign(pool, size, NGX_POOL_ALIGNMENT);

    if (p != NULL) {
        ngx_memzero(p, size);
    }

    return p;
}


static ngx_inline ngx_buf_t *
ngx_microshop_asan_temp_buf(ngx_pool_t *pool, size_t size)
{
    ngx_buf_t  *b;

    b = ngx_microshop_asan_pcalloc(pool, sizeof(ngx_buf_t));
    if (b == NULL) {
        return NULL;
    }

    b->start = ngx_pmemalign(pool, size, NGX_POOL_ALIGNMENT);
    if (b->start == NULL) {
        return NULL;
    }

    b->pos = b->start;
    b->last = b->start;
    b->end = b->last + size;
    b->temporary = 1;

    return b;
}


#define ngx_palloc(pool, size)  ngx_pmemalign(pool, size, NGX_POOL_ALIGNMENT)
#define ngx_pnalloc(pool, size) ngx_pmemalign(pool, size, NGX_POOL_ALIGNMENT)
#define ngx_pcalloc(pool, size) ngx_microshop_asan_pcalloc(pool, size)
#define ngx_create_temp_buf(pool, size)                                      \
    ngx_microshop_asan_temp_buf(pool, size)

#endif
#endif

#endif /* _NGX_MICROSHOP_ASAN_H_INCLUDED_ */
