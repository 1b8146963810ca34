/* test_safetensors_tool.c - helper for tests/safetensors_crosscheck.py:
 *   write PATH   writes a fixed set of tensors with the collecting writer
 *   stream PATH  writes the same set with the streaming writer
 *   dump PATH    prints every tensor (converted to float32) and metadata
 * Values are defined by index formulas that the Python side repeats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/safetensors.h"

#define NA 12
#define NB 5

static float a_val(int i) { return (float)i * 0.5f - 1.25f; }
static double b_val(int i) { return 1.0 / (i + 3) - 0.1 * i; }
static int64_t c_val(int i) { return (int64_t)i * 1000000007LL - 3; }

static int write_file(const char *path, int streaming)
{
    float a[NA];
    double b[NB];
    int64_t c[4];
    uint16_t e[3] = {0x3c00, 0xbc00, 0x7bff}; /* 1, -1, 65504 in F16 */
    for (int i = 0; i < NA; i++)
        a[i] = a_val(i);
    for (int i = 0; i < NB; i++)
        b[i] = b_val(i);
    for (int i = 0; i < 4; i++)
        c[i] = c_val(i);
    int64_t sa[2] = {3, 4}, sb[1] = {NB}, sc[2] = {2, 2}, se[1] = {3}, sz[2] = {0, 3};
    bs_error err = {0};
    int rc;
    if (!streaming) {
        bs_st_writer *w = bs_st_writer_new();
        rc = bs_st_writer_add(w, "layer.weight", BS_ST_F32, 2, sa, a, &err);
        rc = rc ? rc : bs_st_writer_add(w, "b", BS_ST_F64, 1, sb, b, &err);
        rc = rc ? rc : bs_st_writer_add(w, "count", BS_ST_I64, 2, sc, c, &err);
        rc = rc ? rc : bs_st_writer_add(w, "half", BS_ST_F16, 1, se, e, &err);
        rc = rc ? rc : bs_st_writer_add(w, "empty", BS_ST_F32, 2, sz, NULL, &err);
        rc = rc ? rc : bs_st_writer_set_metadata(w, "format", "pt", &err);
        rc = rc ? rc : bs_st_writer_set_metadata(w, "text", "caf\xc3\xa9 \"q\"\\", &err);
        rc = rc ? rc : bs_st_writer_write(w, path, &err);
        bs_st_writer_free(w);
    } else {
        bs_st_stream *s = bs_st_stream_new();
        rc = bs_st_stream_declare(s, "layer.weight", BS_ST_F32, 2, sa, &err);
        rc = rc ? rc : bs_st_stream_declare(s, "b", BS_ST_F64, 1, sb, &err);
        rc = rc ? rc : bs_st_stream_declare(s, "count", BS_ST_I64, 2, sc, &err);
        rc = rc ? rc : bs_st_stream_declare(s, "half", BS_ST_F16, 1, se, &err);
        rc = rc ? rc : bs_st_stream_declare(s, "empty", BS_ST_F32, 2, sz, &err);
        rc = rc ? rc : bs_st_stream_set_metadata(s, "format", "pt", &err);
        rc = rc ? rc : bs_st_stream_set_metadata(s, "text", "caf\xc3\xa9 \"q\"\\", &err);
        rc = rc ? rc : bs_st_stream_begin(s, path, &err);
        /* Odd chunk sizes that straddle tensor boundaries. */
        unsigned char all[sizeof a + sizeof b + sizeof c + sizeof e];
        size_t off = 0;
        memcpy(all + off, a, sizeof a), off += sizeof a;
        memcpy(all + off, b, sizeof b), off += sizeof b;
        memcpy(all + off, c, sizeof c), off += sizeof c;
        memcpy(all + off, e, sizeof e), off += sizeof e;
        for (size_t pos = 0; rc == 0 && pos < off; pos += 13)
            rc = bs_st_stream_append(s, all + pos, off - pos < 13 ? off - pos : 13, &err);
        rc = rc ? rc : bs_st_stream_commit(s, &err);
        bs_st_stream_free(s);
    }
    if (rc)
        fprintf(stderr, "error: %s\n", err.message);
    return rc;
}

static int dump_file(const char *path)
{
    bs_error err = {0};
    bs_safetensors *st = bs_st_open(path, &err);
    if (!st) {
        fprintf(stderr, "error: %s\n", err.message);
        return err.code;
    }
    for (int i = 0; i < bs_st_metadata_count(st); i++)
        printf("meta\t%s\t%s\n", bs_st_metadata_key(st, i), bs_st_metadata(st, bs_st_metadata_key(st, i)));
    for (int i = 0; i < bs_st_count(st); i++) {
        const bs_st_info *info = bs_st_get(st, i);
        printf("tensor\t%s\t%s\t", info->name, bs_st_dtype_name(info->dtype));
        for (int d = 0; d < info->ndim; d++)
            printf("%s%lld", d ? "," : "", (long long)info->shape[d]);
        bs_tensor *t = bs_st_read_tensor(st, info->name, &err);
        if (!t) {
            fprintf(stderr, "error: %s\n", err.message);
            bs_st_close(st);
            return err.code;
        }
        printf("\t");
        int64_t n = bs_tensor_numel(t);
        for (int64_t k = 0; k < n; k++)
            printf("%s%.9g", k ? "," : "", (double)t->data[k]);
        printf("\n");
        bs_tensor_free(t);
    }
    bs_st_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s write|stream|dump PATH\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "write") == 0)
        return write_file(argv[2], 0);
    if (strcmp(argv[1], "stream") == 0)
        return write_file(argv[2], 1);
    if (strcmp(argv[1], "dump") == 0)
        return dump_file(argv[2]);
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
