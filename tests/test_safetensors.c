/* test_safetensors.c - round trips of both writers and a table of malformed
 * files, each of which must fail with the expected status and a one-line
 * message that names the file and the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/safetensors.h"

static int failures;
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static char tmpdir[256];

static void path_in_tmp(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmpdir, name); }

static int count_files(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", tmpdir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_round_trip(void)
{
    bs_error err = {0};
    float a[2 * 3] = {1.5f, -2.25f, 3e-8f, 1e30f, -0.0f, 7.0f};
    double b[4] = {1.0 / 3.0, -2.5, 1e-300, 4};
    int64_t c[3] = {-5, 1LL << 40, 7};
    uint8_t d[5] = {0, 1, 2, 254, 255};
    uint16_t h[3] = {0x3c00 /* 1 */, 0xc000 /* -2 */, 0x0001 /* 2^-24 */};
    uint16_t bf[2] = {0x3f80 /* 1 */, 0xc040 /* -3 */};
    uint8_t bo[3] = {1, 0, 1};
    int32_t i32[2] = {-7, 123456};
    int64_t sa[2] = {2, 3}, sb[1] = {4}, sc[1] = {3}, sd[1] = {5}, sh[1] = {3}, sbf[1] = {2}, sbo[1] = {3},
            si[1] = {2}, sz[2] = {0, 4};

    bs_st_writer *w = bs_st_writer_new();
    CHECK(bs_st_writer_add(w, "z_f32", BS_ST_F32, 2, sa, a, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "b_f64", BS_ST_F64, 1, sb, b, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "c_i64", BS_ST_I64, 1, sc, c, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "d_u8", BS_ST_U8, 1, sd, d, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "h_f16", BS_ST_F16, 1, sh, h, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "bf", BS_ST_BF16, 1, sbf, bf, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "bool", BS_ST_BOOL, 1, sbo, bo, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "i32", BS_ST_I32, 1, si, i32, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "empty", BS_ST_F32, 2, sz, NULL, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "scalar", BS_ST_F64, 0, NULL, b, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_add(w, "z_f32", BS_ST_F32, 2, sa, a, &err) == BS_ERR_USAGE, "duplicate accepted");
    CHECK(strstr(err.message, "duplicate"), "message: %s", err.message);
    CHECK(bs_st_writer_set_metadata(w, "format", "pt", &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_set_metadata(w, "note", "quote \" and \xc3\xa9", &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_writer_set_metadata(w, "format", "brainstage", &err) == BS_OK, "%s", err.message);

    char path[512];
    path_in_tmp(path, sizeof path, "rt.safetensors");
    CHECK(bs_st_writer_write(w, path, &err) == BS_OK, "%s", err.message);
    bs_st_writer_free(w);
    CHECK(count_files() == 1, "temporary left behind (%d files)", count_files());

    FILE *fp = fopen(path, "rb");
    unsigned char head[8];
    CHECK(fp && fread(head, 1, 8, fp) == 8, "cannot reread");
    if (fp)
        fclose(fp);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | head[i];
    CHECK((8 + hlen) % 8 == 0, "header not padded to 8 bytes: %llu", (unsigned long long)hlen);

    bs_safetensors *st = bs_st_open(path, &err);
    CHECK(st != NULL, "%s", err.message);
    if (!st)
        return;
    CHECK(bs_st_count(st) == 10, "count %d", bs_st_count(st));
    CHECK(strcmp(bs_st_metadata(st, "format"), "brainstage") == 0, "metadata replace");
    CHECK(strcmp(bs_st_metadata(st, "note"), "quote \" and \xc3\xa9") == 0, "metadata escape");
    CHECK(bs_st_metadata(st, "missing") == NULL, "absent metadata");
    CHECK(bs_st_metadata_count(st) == 2 && strcmp(bs_st_metadata_key(st, 0), "format") == 0, "metadata keys");
    /* Every tensor is aligned to its element size in the file. */
    for (int i = 0; i < bs_st_count(st); i++) {
        const bs_st_info *inf = bs_st_get(st, i);
        CHECK((8 + hlen + inf->begin) % bs_st_dtype_size(inf->dtype) == 0, "'%s' misaligned", inf->name);
    }

    float out[8];
    int64_t want[2] = {2, 3};
    CHECK(bs_st_read_f32(st, "z_f32", out, 2, want, &err) == BS_OK, "%s", err.message);
    CHECK(memcmp(out, a, sizeof a) == 0, "f32 bits differ");
    int64_t wrong[2] = {3, 2};
    CHECK(bs_st_read_f32(st, "z_f32", out, 2, wrong, &err) == BS_ERR_DATA && strstr(err.message, "[2,3]"),
          "shape mismatch: %s", err.message);
    CHECK(bs_st_read_f32(st, "b_f64", out, 0, NULL, &err) == BS_OK, "%s", err.message);
    for (int i = 0; i < 4; i++)
        CHECK(out[i] == (float)b[i], "f64[%d]", i);
    CHECK(bs_st_read_f32(st, "c_i64", out, 0, NULL, &err) == BS_OK && out[1] == (float)(1LL << 40), "i64");
    CHECK(bs_st_read_f32(st, "d_u8", out, 0, NULL, &err) == BS_OK && out[4] == 255.0f, "u8");
    CHECK(bs_st_read_f32(st, "h_f16", out, 0, NULL, &err) == BS_OK && out[0] == 1.0f && out[1] == -2.0f &&
              out[2] == ldexpf(1.0f, -24),
          "f16 %g %g %g", out[0], out[1], out[2]);
    CHECK(bs_st_read_f32(st, "bf", out, 0, NULL, &err) == BS_OK && out[0] == 1.0f && out[1] == -3.0f, "bf16");
    CHECK(bs_st_read_f32(st, "bool", out, 0, NULL, &err) == BS_OK && out[0] == 1.0f && out[1] == 0.0f, "bool");
    CHECK(bs_st_read_f32(st, "i32", out, 0, NULL, &err) == BS_OK && out[0] == -7.0f && out[1] == 123456.0f, "i32");
    CHECK(bs_st_read_f32(st, "scalar", out, 0, NULL, &err) == BS_OK && out[0] == (float)b[0], "scalar");
    const bs_st_info *ci = bs_st_find(st, "c_i64");
    CHECK(ci && memcmp(bs_st_raw(st, ci), c, sizeof c) == 0, "raw i64 exact");
    CHECK(ci && ((uintptr_t)bs_st_raw(st, ci) % 8) == 0, "raw data not 8-byte aligned");
    bs_tensor *t = bs_st_read_tensor(st, "z_f32", &err);
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && memcmp(t->data, a, sizeof a) == 0,
          "read_tensor");
    bs_tensor_free(t);
    t = bs_st_read_tensor(st, "empty", &err);
    CHECK(t && t->shape[0] == 0 && t->shape[1] == 4, "empty tensor: %s", err.message);
    bs_tensor_free(t);
    CHECK(bs_st_read_tensor(st, "nope", &err) == NULL && err.code == BS_ERR_DATA && strstr(err.message, "'nope'"),
          "missing name: %s", err.message);
    bs_st_close(st);

    /* Same bytes through the memory path. */
    fp = fopen(path, "rb");
    static unsigned char image[4096];
    size_t n = fp ? fread(image, 1, sizeof image, fp) : 0;
    if (fp)
        fclose(fp);
    st = bs_st_open_memory(image, n, "image", &err);
    CHECK(st && bs_st_count(st) == 10, "memory open: %s", err.message);
    bs_st_close(st);
}

static void test_stream(void)
{
    bs_error err = {0};
    char path[512];
    path_in_tmp(path, sizeof path, "stream.safetensors");
    enum { N = 37, R = 5 };
    int64_t shape[3] = {N, R, R}, ishape[1] = {N};
    bs_st_stream *s = bs_st_stream_new();
    CHECK(bs_st_stream_declare(s, "pfc", BS_ST_F32, 3, shape, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_stream_declare(s, "index", BS_ST_I64, 1, ishape, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_stream_set_metadata(s, "n", "37", &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_stream_begin(s, path, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_stream_declare(s, "late", BS_ST_F32, 1, ishape, &err) == BS_ERR_USAGE, "declare after begin");
    float chunk[7 * R * R];
    int64_t done = 0;
    while (done < N) {
        int64_t k = N - done < 7 ? N - done : 7;
        for (int64_t i = 0; i < k * R * R; i++)
            chunk[i] = (float)(done * R * R + i);
        CHECK(bs_st_stream_append(s, chunk, (size_t)(k * R * R) * 4, &err) == BS_OK, "%s", err.message);
        done += k;
    }
    CHECK(bs_st_stream_remaining(s) == N * 8, "remaining %llu", (unsigned long long)bs_st_stream_remaining(s));
    int64_t idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = 1000 + i;
    CHECK(bs_st_stream_append(s, idx, 3 * 8, &err) == BS_OK, "%s", err.message); /* chunks may split tensors */
    CHECK(bs_st_stream_append(s, idx + 3, (N - 3) * 8 + 1, &err) == BS_ERR_USAGE, "overrun accepted");
    CHECK(bs_st_stream_append(s, idx + 3, (N - 3) * 8, &err) == BS_OK, "%s", err.message);
    CHECK(bs_st_stream_commit(s, &err) == BS_OK, "%s", err.message);
    bs_st_stream_free(s);

    bs_safetensors *st = bs_st_open(path, &err);
    CHECK(st != NULL, "%s", err.message);
    if (st) {
        bs_tensor *t = bs_st_read_tensor(st, "pfc", &err);
        int ok = t != NULL;
        for (int64_t i = 0; ok && i < N * R * R; i++)
            ok = t->data[i] == (float)i;
        CHECK(ok, "streamed data differ");
        bs_tensor_free(t);
        const bs_st_info *ii = bs_st_find(st, "index");
        CHECK(ii && memcmp(bs_st_raw(st, ii), idx, sizeof idx) == 0, "streamed index differ");
        CHECK(strcmp(bs_st_metadata(st, "n"), "37") == 0, "stream metadata");
        bs_st_close(st);
    }

    /* Short stream: commit refuses, nothing under the final name. */
    char path2[512];
    path_in_tmp(path2, sizeof path2, "short.safetensors");
    int before = count_files();
    s = bs_st_stream_new();
    bs_st_stream_declare(s, "x", BS_ST_F32, 3, shape, &err);
    CHECK(bs_st_stream_begin(s, path2, &err) == BS_OK, "%s", err.message);
    bs_st_stream_append(s, chunk, 100, &err);
    CHECK(bs_st_stream_commit(s, &err) == BS_ERR_DATA && strstr(err.message, "100 of 3700"), "short: %s",
          err.message);
    CHECK(strchr(err.message, '\n') == NULL, "multi-line");
    bs_st_stream_free(s);
    CHECK(access(path2, F_OK) != 0, "short stream left a file under its final name");
    CHECK(count_files() == before, "short stream left a temporary");

    /* Abandoned stream (free without commit): no file either. */
    s = bs_st_stream_new();
    bs_st_stream_declare(s, "x", BS_ST_F32, 3, shape, &err);
    bs_st_stream_begin(s, path2, &err);
    bs_st_stream_append(s, chunk, 100, &err);
    bs_st_stream_free(s);
    CHECK(access(path2, F_OK) != 0 && count_files() == before, "abandoned stream left a file");
}

/* ---- malformed inputs ------------------------------------------------------ */

static size_t make_image(unsigned char *buf, size_t cap, const char *json, uint64_t declared_len, size_t data_bytes)
{
    size_t n = strlen(json);
    if (declared_len == (uint64_t)-1)
        declared_len = n;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(declared_len >> (8 * i));
    memcpy(buf + 8, json, n);
    if (8 + n + data_bytes > cap)
        abort();
    memset(buf + 8 + n, 0, data_bytes);
    return 8 + n + data_bytes;
}

typedef struct bad_case {
    const char *label;
    const char *json;
    uint64_t declared_len; /* -1: the JSON's length */
    size_t data_bytes;
    bs_status code;
    const char *needle; /* must appear in the message */
} bad_case;

static void test_malformed(void)
{
    static const bad_case cases[] = {
        {"header length over the cap", "{}", 200u * 1024u * 1024u, 0, BS_ERR_FORMAT, "exceeds"},
        {"header length overflow 2^64-2", "{}", (uint64_t)-2, 0, BS_ERR_FORMAT, "exceeds"},
        {"header length past file end", "{}", 4096, 0, BS_ERR_FORMAT, "past the end"},
        {"invalid JSON", "{\"a\": {\"dtype\": \"F32\",", (uint64_t)-1, 0, BS_ERR_FORMAT, "JSON invalid"},
        {"non-UTF-8 name", "{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", (uint64_t)-1, 4,
         BS_ERR_FORMAT, "JSON invalid"},
        {"not an object", "[1,2]", (uint64_t)-1, 0, BS_ERR_FORMAT, "JSON object"},
        {"duplicate names",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         (uint64_t)-1, 8, BS_ERR_FORMAT, "duplicate"},
        {"bad dtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", (uint64_t)-1, 4,
         BS_ERR_FORMAT, "unknown dtype"},
        {"unsupported dtype", "{\"a\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}}", (uint64_t)-1, 4,
         BS_ERR_UNSUPPORTED, "U16"},
        {"offsets out of bounds", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", (uint64_t)-1,
         8, BS_ERR_FORMAT, "out of bounds"},
        {"offsets overlapping",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         (uint64_t)-1, 12, BS_ERR_FORMAT, "overlaps"},
        {"offsets with a gap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         (uint64_t)-1, 12, BS_ERR_FORMAT, "gap"},
        {"begin after end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", (uint64_t)-1, 8,
         BS_ERR_FORMAT, "begin after end"},
        {"wrong size for shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", (uint64_t)-1, 8,
         BS_ERR_FORMAT, "need 12"},
        {"shape overflow",
         "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", (uint64_t)-1,
         8, BS_ERR_FORMAT, "overflows"},
        {"numel*size overflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}",
         (uint64_t)-1, 8, BS_ERR_FORMAT, "overflows"},
        {"negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", (uint64_t)-1, 4,
         BS_ERR_FORMAT, "shape[0]"},
        {"non-integer dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", (uint64_t)-1,
         4, BS_ERR_FORMAT, "shape[0]"},
        {"too many dimensions",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", (uint64_t)-1, 4,
         BS_ERR_UNSUPPORTED, "dimensions"},
        {"missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", (uint64_t)-1, 4, BS_ERR_FORMAT,
         "data_offsets"},
        {"three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", (uint64_t)-1, 4,
         BS_ERR_FORMAT, "data_offsets"},
        {"unknown field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", (uint64_t)-1,
         4, BS_ERR_FORMAT, "unknown field"},
        {"metadata not strings", "{\"__metadata__\":{\"k\":3}}", (uint64_t)-1, 0, BS_ERR_FORMAT, "__metadata__"},
        {"trailing data bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", (uint64_t)-1, 9,
         BS_ERR_FORMAT, "cover 4"},
        {"header not an object start", " {}", (uint64_t)-1, 0, BS_ERR_FORMAT, "starting with"},
    };
    bs_error err;
    static unsigned char buf[4096];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *c = &cases[i];
        size_t n = make_image(buf, sizeof buf, c->json, c->declared_len, c->data_bytes);
        bs_error_clear(&err);
        bs_safetensors *st = bs_st_open_memory(buf, n, "bad.safetensors", &err);
        CHECK(st == NULL, "%s: accepted", c->label);
        bs_st_close(st);
        CHECK(err.code == c->code, "%s: status %d, expected %d (%s)", c->label, err.code, c->code, err.message);
        CHECK(strstr(err.message, c->needle) != NULL, "%s: message lacks '%s': %s", c->label, c->needle,
              err.message);
        CHECK(strncmp(err.message, "bad.safetensors: ", 17) == 0, "%s: message does not name the file: %s",
              c->label, err.message);
        CHECK(strchr(err.message, '\n') == NULL, "%s: multi-line message", c->label);
        printf("ok  %-32s %s\n", c->label, err.message);
    }
    /* Too short for the length field. */
    bs_error_clear(&err);
    CHECK(bs_st_open_memory("abc", 3, "short", &err) == NULL && strstr(err.message, "too short"), "short: %s",
          err.message);

    /* Truncated file on disk: a valid file cut inside its data section. */
    char path[512], cut[512];
    path_in_tmp(path, sizeof path, "rt.safetensors");
    path_in_tmp(cut, sizeof cut, "cut.safetensors");
    FILE *in = fopen(path, "rb"), *out = fopen(cut, "wb");
    size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
    if (out && n > 10)
        fwrite(buf, 1, n - 10, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    bs_error_clear(&err);
    CHECK(bs_st_open(cut, &err) == NULL && err.code == BS_ERR_FORMAT && strstr(err.message, "cut.safetensors"),
          "truncated file: %s", err.message);
    printf("ok  %-32s %s\n", "truncated file", err.message);
    bs_error_clear(&err);
    CHECK(bs_st_open("/nonexistent/x.safetensors", &err) == NULL && err.code == BS_ERR_IO, "missing file");
    unlink(cut);
}

/* BOOL bytes other than 0/1 are caught on conversion. */
static void test_bad_bool(void)
{
    unsigned char buf[256];
    const char *json = "{\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    size_t n = make_image(buf, sizeof buf, json, (uint64_t)-1, 2);
    buf[n - 1] = 7;
    bs_error err = {0};
    bs_safetensors *st = bs_st_open_memory(buf, n, "bool.safetensors", &err);
    float out[2];
    CHECK(st && bs_st_read_f32(st, "b", out, 0, NULL, &err) == BS_ERR_FORMAT && strstr(err.message, "element 1"),
          "bool: %s", err.message);
    bs_st_close(st);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_safetensors.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_stream();
    test_malformed();
    test_bad_bool();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
