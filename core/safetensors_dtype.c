/* safetensors_dtype.c - safetensors dtype names, sizes and conversion to float32.
 *
 * Kept apart from the parser so the reader stays about validation only. */
#include "brainstage/safetensors.h"

#include <math.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "brainstage safetensors I/O assumes a little-endian host (the format is little-endian)"
#endif

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [BS_ST_F32] = {"F32", 4}, [BS_ST_F64] = {"F64", 8}, [BS_ST_F16] = {"F16", 2},
    [BS_ST_BF16] = {"BF16", 2}, [BS_ST_I64] = {"I64", 8}, [BS_ST_I32] = {"I32", 4},
    [BS_ST_I16] = {"I16", 2}, [BS_ST_I8] = {"I8", 1}, [BS_ST_U8] = {"U8", 1},
    [BS_ST_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtype_table / sizeof dtype_table[0]))

size_t bs_st_dtype_size(bs_st_dtype dtype)
{
    return ((int)dtype >= 0 && (int)dtype < N_DTYPES) ? dtype_table[dtype].size : 0;
}

const char *bs_st_dtype_name(bs_st_dtype dtype)
{
    return ((int)dtype >= 0 && (int)dtype < N_DTYPES) ? dtype_table[dtype].name : "?";
}

int bs_st_dtype_parse(const char *name)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(dtype_table[i].name, name) == 0)
            return i;
    return -1;
}

/* IEEE binary16 -> binary32, exact for every value (subnormals included). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        float f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Converts n elements starting at src (any alignment) to float32.  BOOL bytes
 * other than 0/1 are a format error, so returns the index of the first bad
 * element or -1 when all converted. */
int64_t bs_st__convert_f32(bs_st_dtype dtype, const unsigned char *src, size_t n, float *out);
int64_t bs_st__convert_f32(bs_st_dtype dtype, const unsigned char *src, size_t n, float *out)
{
    switch (dtype) {
    case BS_ST_F32:
        memcpy(out, src, n * 4);
        break;
    case BS_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            out[i] = (float)v;
        }
        break;
    case BS_ST_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = half_to_float((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
        break;
    case BS_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = ((uint32_t)src[2 * i] | ((uint32_t)src[2 * i + 1] << 8)) << 16;
            memcpy(&out[i], &bits, 4);
        }
        break;
    case BS_ST_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, src + 8 * i, 8);
            out[i] = (float)v;
        }
        break;
    case BS_ST_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            out[i] = (float)v;
        }
        break;
    case BS_ST_I16:
        for (size_t i = 0; i < n; i++) {
            int16_t v;
            memcpy(&v, src + 2 * i, 2);
            out[i] = (float)v;
        }
        break;
    case BS_ST_I8:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(int8_t)src[i];
        break;
    case BS_ST_U8:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)src[i];
        break;
    case BS_ST_BOOL:
        for (size_t i = 0; i < n; i++) {
            if (src[i] > 1)
                return (int64_t)i;
            out[i] = (float)src[i];
        }
        break;
    }
    return -1;
}
