/* pipeline_parse.c - pipeline file syntax: statements, quoting, ${var}. */
#include "brainstage/pipeline.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable string. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static int sb_putc(sbuf *b, char c)
{
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char *s = realloc(b->s, cap);
        if (!s)
            return -1;
        b->s = s;
        b->cap = cap;
    }
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
    return 0;
}

static int sb_puts(sbuf *b, const char *s)
{
    for (; *s; s++)
        if (sb_putc(b, *s))
            return -1;
    return 0;
}

/* One logical line (continuations joined) with the source position of every char. */
typedef struct logical_line {
    sbuf text;
    int *lines, *cols;
    size_t pos_cap;
} logical_line;

static int ll_push(logical_line *ll, char c, int line, int col)
{
    if (ll->text.len + 1 >= ll->pos_cap) {
        size_t cap = ll->pos_cap ? ll->pos_cap * 2 : 128;
        int *l = realloc(ll->lines, cap * sizeof *l);
        if (!l)
            return -1;
        ll->lines = l;
        int *c2 = realloc(ll->cols, cap * sizeof *c2);
        if (!c2)
            return -1;
        ll->cols = c2;
        ll->pos_cap = cap;
    }
    ll->lines[ll->text.len] = line;
    ll->cols[ll->text.len] = col;
    return sb_putc(&ll->text, c);
}

typedef struct parser {
    const char *origin;
    int n_vars;
    const char *const *vars;
    bs_error *err;
    bs_pipeline *p;
} parser;

static int perr(parser *ps, int line, int col, const char *fmt, const char *a, const char *b)
{
    char msg[BS_ERROR_MESSAGE_MAX];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    return bs_error_set(ps->err, BS_ERR_PIPELINE, "%s:%d:%d: %s", ps->origin, line, col, msg);
}

static const char *lookup_var(parser *ps, const char *name, size_t len)
{
    /* Later assignments win, like shell. */
    for (int i = ps->n_vars - 1; i >= 0; i--) {
        const char *eq = strchr(ps->vars[i], '=');
        if (eq && (size_t)(eq - ps->vars[i]) == len && strncmp(ps->vars[i], name, len) == 0)
            return eq + 1;
    }
    return NULL;
}

/* Expands ${...} starting at text[*i] == '$'; appends to out. */
static int expand_var(parser *ps, logical_line *ll, size_t *i, sbuf *out)
{
    const char *t = ll->text.s;
    size_t start = *i;
    if (t[start + 1] == '$') {
        *i = start + 2;
        return sb_putc(out, '$') ? bs_error_set(ps->err, BS_ERR_NOMEM, "out of memory") : 0;
    }
    if (t[start + 1] != '{')
        return perr(ps, ll->lines[start], ll->cols[start], "'$' must start ${name} or be written $$%s%s", NULL, NULL);
    size_t j = start + 2, name_start = j;
    while (isalnum((unsigned char)t[j]) || t[j] == '_')
        j++;
    size_t name_len = j - name_start;
    if (name_len == 0 || isdigit((unsigned char)t[name_start]))
        return perr(ps, ll->lines[start], ll->cols[start], "expected a variable name after '${'%s%s", NULL, NULL);
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(name_len < 127 ? name_len : 127), t + name_start);
    const char *value = lookup_var(ps, t + name_start, name_len);
    if (t[j] == ':' && t[j + 1] == '-') {
        /* ${name:-default}: the default runs to the matching '}' (no nesting). */
        size_t k = j + 2;
        while (t[k] && t[k] != '}')
            k++;
        if (t[k] != '}')
            return perr(ps, ll->lines[start], ll->cols[start], "unterminated ${%s:-...}%s", name, NULL);
        if (value) {
            if (sb_puts(out, value))
                return bs_error_set(ps->err, BS_ERR_NOMEM, "out of memory");
        } else {
            for (size_t m = j + 2; m < k; m++)
                if (sb_putc(out, t[m]))
                    return bs_error_set(ps->err, BS_ERR_NOMEM, "out of memory");
        }
        *i = k + 1;
        return 0;
    }
    if (t[j] != '}')
        return perr(ps, ll->lines[start], ll->cols[start], "unterminated ${%s%s", name, NULL);
    if (!value)
        return perr(ps, ll->lines[start], ll->cols[start],
                    "undefined variable ${%s}: pass %s=VALUE on the command line", name, name);
    if (sb_puts(out, value))
        return bs_error_set(ps->err, BS_ERR_NOMEM, "out of memory");
    *i = j + 1;
    return 0;
}

typedef struct token {
    char *text;
    int line, col;
    int eq_pos;      /* index of the first unquoted '=' in text, -1 if none */
    int value_col;   /* source column right after that '=' */
} token;

/* Splits a logical line into tokens; returns count or -1 on error. */
static int tokenize(parser *ps, logical_line *ll, token **out_tokens)
{
    const char *t = ll->text.s ? ll->text.s : "";
    size_t n = ll->text.len;
    token *toks = NULL;
    int nt = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && (t[i] == ' ' || t[i] == '\t'))
            i++;
        if (i >= n || t[i] == '#')
            break;
        token tk = {0};
        tk.line = ll->lines[i];
        tk.col = ll->cols[i];
        tk.eq_pos = -1;
        sbuf b = {0};
        if (sb_putc(&b, 'x'))
            goto nomem;
        b.len = 0;
        b.s[0] = '\0';
        while (i < n && t[i] != ' ' && t[i] != '\t') {
            if (t[i] == '"') {
                int qline = ll->lines[i], qcol = ll->cols[i];
                i++;
                while (i < n && t[i] != '"') {
                    if (t[i] == '\\' && i + 1 < n && (t[i + 1] == '"' || t[i + 1] == '\\' || t[i + 1] == '$')) {
                        if (sb_putc(&b, t[i + 1]))
                            goto nomem_b;
                        i += 2;
                    } else if (t[i] == '$') {
                        if (expand_var(ps, ll, &i, &b))
                            goto fail_b;
                    } else {
                        if (sb_putc(&b, t[i++]))
                            goto nomem_b;
                    }
                }
                if (i >= n) {
                    perr(ps, qline, qcol, "unterminated quoted string%s%s", NULL, NULL);
                    goto fail_b;
                }
                i++;
            } else if (t[i] == '$') {
                if (expand_var(ps, ll, &i, &b))
                    goto fail_b;
            } else {
                if (t[i] == '=' && tk.eq_pos < 0) {
                    tk.eq_pos = (int)b.len;
                    tk.value_col = i + 1 < n ? ll->cols[i + 1] : ll->cols[i] + 1;
                }
                if (t[i] == '#' && b.len == 0)
                    break;
                if (sb_putc(&b, t[i++]))
                    goto nomem_b;
            }
        }
        tk.text = b.s;
        token *grown = realloc(toks, (size_t)(nt + 1) * sizeof *toks);
        if (!grown) {
            free(b.s);
            goto nomem;
        }
        toks = grown;
        toks[nt++] = tk;
        continue;
    nomem_b:
        free(b.s);
        goto nomem;
    fail_b:
        free(b.s);
        goto fail;
    }
    *out_tokens = toks;
    return nt;
nomem:
    bs_error_set(ps->err, BS_ERR_NOMEM, "out of memory");
fail:
    for (int k = 0; k < nt; k++)
        free(toks[k].text);
    free(toks);
    return -1;
}

static void free_tokens(token *toks, int n)
{
    for (int i = 0; i < n; i++)
        free(toks[i].text);
    free(toks);
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static int valid_key(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static int statement(parser *ps, token *tk, int nt)
{
    const char *kw = tk[0].text;
    int is_sink = strcmp(kw, "sink") == 0;
    if (!is_sink && strcmp(kw, "stage") != 0)
        return perr(ps, tk[0].line, tk[0].col, "expected 'stage' or 'sink', found '%s'", kw, NULL);
    if (nt < 3)
        return perr(ps, tk[0].line, tk[0].col,
                    is_sink ? "'sink' needs a source stage and a type: sink FROM TYPE key=value ...%s%s"
                            : "'stage' needs a name and a type: stage NAME TYPE key=value ...%s%s",
                    NULL, NULL);
    if (!valid_name(tk[1].text))
        return perr(ps, tk[1].line, tk[1].col, "'%s' is not a valid stage name (letters, digits, '_' and '-')",
                    tk[1].text, NULL);
    if (!valid_name(tk[2].text))
        return perr(ps, tk[2].line, tk[2].col, "'%s' is not a valid stage type", tk[2].text, NULL);
    bs_pipeline *p = ps->p;
    bs_pipeline_stage st = {0};
    st.line = tk[0].line;
    st.col = tk[0].col;
    st.name_col = tk[1].col;
    st.type_col = tk[2].col;
    char namebuf[256];
    if (is_sink)
        snprintf(namebuf, sizeof namebuf, "%s~%s~%d", tk[1].text, tk[2].text, p->n_stages + 1);
    else
        snprintf(namebuf, sizeof namebuf, "%s", tk[1].text);
    for (int i = 0; i < p->n_stages; i++)
        if (strcmp(p->stages[i].name, namebuf) == 0) {
            char where[64];
            snprintf(where, sizeof where, "%d", p->stages[i].line);
            return perr(ps, tk[1].line, tk[1].col, "stage '%s' is already defined on line %s", namebuf, where);
        }
    int n_args = nt - 3 + (is_sink ? 1 : 0);
    st.args = calloc((size_t)n_args + 1, sizeof *st.args);
    st.name = strdup(namebuf);
    st.type = strdup(tk[2].text);
    if (!st.args || !st.name || !st.type)
        goto nomem;
    if (is_sink) {
        st.args[0].key = strdup("input");
        st.args[0].value = strdup(tk[1].text);
        st.args[0].line = tk[1].line;
        st.args[0].col = st.args[0].value_col = tk[1].col;
        st.n_args = 1;
        if (!st.args[0].key || !st.args[0].value)
            goto nomem;
    }
    for (int k = 3; k < nt; k++) {
        token *a = &tk[k];
        if (a->eq_pos < 0 || !valid_key(a->text, (size_t)a->eq_pos)) {
            perr(ps, a->line, a->col, "expected key=value, found '%s'", a->text, NULL);
            goto fail;
        }
        for (int m = 0; m < st.n_args; m++)
            if (strncmp(st.args[m].key, a->text, (size_t)a->eq_pos) == 0 && st.args[m].key[a->eq_pos] == '\0') {
                char key[128];
                snprintf(key, sizeof key, "%.*s", a->eq_pos < 127 ? a->eq_pos : 127, a->text);
                perr(ps, a->line, a->col, "'%s' is given twice", key, NULL);
                goto fail;
            }
        bs_pipeline_arg *arg = &st.args[st.n_args];
        arg->key = strndup(a->text, (size_t)a->eq_pos);
        arg->value = strdup(a->text + a->eq_pos + 1);
        arg->line = a->line;
        arg->col = a->col;
        arg->value_col = a->value_col;
        if (!arg->key || !arg->value) {
            free(arg->key);
            free(arg->value);
            goto nomem;
        }
        st.n_args++;
    }
    bs_pipeline_stage *grown = realloc(p->stages, (size_t)(p->n_stages + 1) * sizeof *grown);
    if (!grown)
        goto nomem;
    p->stages = grown;
    p->stages[p->n_stages++] = st;
    return 0;
nomem:
    bs_error_set(ps->err, BS_ERR_NOMEM, "out of memory");
fail:
    for (int m = 0; m < st.n_args; m++) {
        free(st.args[m].key);
        free(st.args[m].value);
    }
    free(st.args);
    free(st.name);
    free(st.type);
    return ps->err ? ps->err->code : BS_ERR_PIPELINE;
}

void bs_pipeline_free(bs_pipeline *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_stages; i++) {
        bs_pipeline_stage *s = &p->stages[i];
        for (int k = 0; k < s->n_args; k++) {
            free(s->args[k].key);
            free(s->args[k].value);
        }
        free(s->args);
        free(s->name);
        free(s->type);
    }
    free(p->stages);
    free(p->path);
    free(p);
}

bs_pipeline *bs_pipeline_parse_string(const char *text, const char *origin, int n_vars,
                                      const char *const *vars, bs_error *err)
{
    for (int i = 0; i < n_vars; i++) {
        const char *eq = strchr(vars[i], '=');
        if (!eq || eq == vars[i]) {
            bs_error_set(err, BS_ERR_USAGE, "variable '%s' must be written name=value", vars[i]);
            return NULL;
        }
    }
    parser ps = {origin, n_vars, vars, err, calloc(1, sizeof(bs_pipeline))};
    if (!ps.p || !(ps.p->path = strdup(origin))) {
        bs_pipeline_free(ps.p);
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    logical_line ll = {0};
    int line = 1, col = 1, rc = 0;
    const char *s = text;
    while (!rc) {
        char c = *s;
        int at_end = c == '\0';
        if (c == '\\' && (s[1] == '\n' || (s[1] == '\r' && s[2] == '\n'))) {
            /* continuation: join with the next physical line, as a space */
            s += s[1] == '\n' ? 2 : 3;
            if (ll_push(&ll, ' ', line, col)) {
                rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
                break;
            }
            line++;
            col = 1;
            continue;
        }
        if (at_end || c == '\n') {
            token *toks = NULL;
            int nt = tokenize(&ps, &ll, &toks);
            if (nt < 0)
                rc = err ? err->code : BS_ERR_PIPELINE;
            else if (nt > 0)
                rc = statement(&ps, toks, nt);
            if (nt >= 0)
                free_tokens(toks, nt);
            ll.text.len = 0;
            if (ll.text.s)
                ll.text.s[0] = '\0';
            if (at_end)
                break;
            s++;
            line++;
            col = 1;
            continue;
        }
        if (c == '\r' && s[1] == '\n') {
            s++;
            continue;
        }
        if (c == '\0' || (unsigned char)c < 0x09 || (c > 0x0d && (unsigned char)c < 0x20)) {
            rc = perr(&ps, line, col, "control character in pipeline text%s%s", NULL, NULL);
            break;
        }
        if (ll_push(&ll, c, line, col)) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
            break;
        }
        s++;
        col++;
    }
    free(ll.text.s);
    free(ll.lines);
    free(ll.cols);
    if (rc) {
        bs_pipeline_free(ps.p);
        return NULL;
    }
    if (ps.p->n_stages == 0) {
        bs_error_set(err, BS_ERR_PIPELINE, "%s:1:1: the pipeline defines no stages", origin);
        bs_pipeline_free(ps.p);
        return NULL;
    }
    return ps.p;
}

bs_pipeline *bs_pipeline_parse_file(const char *path, int n_vars, const char *const *vars, bs_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        bs_error_set(err, BS_ERR_IO, "%s: cannot open pipeline file: %s", path, strerror(errno));
        return NULL;
    }
    sbuf b = {0};
    char chunk[4096];
    size_t got;
    int nul = 0;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (memchr(chunk, '\0', got))
            nul = 1;
        for (size_t i = 0; i < got && !nul; i++)
            if (sb_putc(&b, chunk[i])) {
                fclose(fp);
                free(b.s);
                bs_error_set(err, BS_ERR_NOMEM, "out of memory");
                return NULL;
            }
        if (b.len > (1u << 20)) {
            fclose(fp);
            free(b.s);
            bs_error_set(err, BS_ERR_PIPELINE, "%s: pipeline file larger than 1 MiB", path);
            return NULL;
        }
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr || nul) {
        free(b.s);
        bs_error_set(err, rerr ? BS_ERR_IO : BS_ERR_PIPELINE, "%s: %s", path,
                     rerr ? "read error" : "contains NUL bytes: not a pipeline text file");
        return NULL;
    }
    bs_pipeline *p = bs_pipeline_parse_string(b.s ? b.s : "", path, n_vars, vars, err);
    free(b.s);
    return p;
}
