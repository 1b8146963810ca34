/* test_pipeline_parse.c - pipeline syntax: statements, quoting, variables,
 * continuation lines, and every parse error with its file:line:col. */
#include "brainstage/pipeline.h"
#include "testutil.h"

#include <stdlib.h>

static bs_pipeline *parse(const char *text, int n_vars, const char *const *vars, bs_error *err)
{
    bs_error_clear(err);
    return bs_pipeline_parse_string(text, "t.pipeline", n_vars, vars, err);
}

static void expect_error(const char *text, const char *where, const char *what)
{
    bs_error err;
    const char *vars[] = {"defined=1"};
    bs_pipeline *p = parse(text, 1, vars, &err);
    CHECK_MSG(p == NULL, "parsed although it should fail: %s", text);
    bs_pipeline_free(p);
    CHECK(err.code == BS_ERR_PIPELINE || err.code == BS_ERR_USAGE);
    CHECK_CONTAINS(err.message, where);
    CHECK_CONTAINS(err.message, what);
}

static void test_valid(void)
{
    const char *vars[] = {"bold=/data/x.nii.gz", "out=/tmp/o", "out=/tmp/override"};
    bs_error err;
    bs_pipeline *p = parse("# a comment\n"
                           "stage bold nifti-source path=${bold}   # trailing comment\n"
                           "\n"
                           "stage ts atlas-label input=bold \\\n"
                           "      atlas=\"aal with space\" label=\"say \\\"hi\\\"\" cost=$$5\n"
                           "sink ts tsv path=${out}/{entities}.tsv fallback=${missing:-dflt}\n",
                           3, vars, &err);
    CHECK_MSG(p != NULL, "%s", err.message);
    if (!p)
        return;
    CHECK(p->n_stages == 3);
    CHECK(!strcmp(p->stages[0].name, "bold"));
    CHECK(!strcmp(p->stages[0].type, "nifti-source"));
    CHECK(p->stages[0].n_args == 1);
    CHECK(!strcmp(p->stages[0].args[0].value, "/data/x.nii.gz"));
    CHECK(p->stages[0].line == 2 && p->stages[0].col == 1);
    CHECK(p->stages[1].n_args == 4);
    CHECK(!strcmp(p->stages[1].args[1].value, "aal with space"));
    CHECK(!strcmp(p->stages[1].args[2].value, "say \"hi\""));
    CHECK(!strcmp(p->stages[1].args[3].value, "$5"));
    CHECK(p->stages[1].args[1].line == 5); /* continuation keeps physical lines */
    CHECK(p->stages[1].args[1].col == 7);
    /* sink: anonymous stage reading from ts */
    CHECK(!strcmp(p->stages[2].type, "tsv"));
    CHECK(!strcmp(p->stages[2].args[0].key, "input"));
    CHECK(!strcmp(p->stages[2].args[0].value, "ts"));
    CHECK(!strcmp(p->stages[2].args[1].value, "/tmp/override/{entities}.tsv")); /* later var wins */
    CHECK(!strcmp(p->stages[2].args[2].value, "dflt"));
    bs_pipeline_free(p);
}

static void test_errors(void)
{
    expect_error("stage a x path=${nope}\n", "t.pipeline:1:16:", "undefined variable ${nope}");
    expect_error("\n  frobnicate a b\n", "t.pipeline:2:3:", "expected 'stage' or 'sink'");
    expect_error("stage a\n", "t.pipeline:1:1:", "needs a name and a type");
    expect_error("stage a b c\n", "t.pipeline:1:11:", "expected key=value, found 'c'");
    expect_error("stage a b k=1 k=2\n", "t.pipeline:1:15:", "'k' is given twice");
    expect_error("stage a b\nstage a c\n", "t.pipeline:2:7:", "already defined on line 1");
    expect_error("stage a b k=\"open\n", "t.pipeline:1:13:", "unterminated quoted string");
    expect_error("stage a b k=${x\n", "t.pipeline:1:13:", "unterminated ${x");
    expect_error("stage a b k=$x\n", "t.pipeline:1:13:", "'$' must start ${name}");
    expect_error("stage a b k=${1x}\n", "t.pipeline:1:13:", "expected a variable name");
    expect_error("stage a/b c\n", "t.pipeline:1:7:", "not a valid stage name");
    expect_error("# nothing\n\n", "t.pipeline:1:1:", "defines no stages");
    expect_error("stage a b =v\n", "t.pipeline:1:11:", "expected key=value");
    expect_error("stage a b k=\x01\n", "t.pipeline:1:13:", "control character");
    bs_error err;
    const char *bad[] = {"novalue"};
    CHECK(parse("stage a b\n", 1, bad, &err) == NULL);
    CHECK_CONTAINS(err.message, "must be written name=value");
}

static void test_file_errors(void)
{
    bs_error err;
    CHECK(bs_pipeline_parse_file("/nonexistent/x.pipeline", 0, NULL, &err) == NULL);
    CHECK(err.code == BS_ERR_IO);
    CHECK_CONTAINS(err.message, "/nonexistent/x.pipeline: cannot open pipeline file");
}

int main(void)
{
    test_valid();
    test_errors();
    test_file_errors();
    return TEST_RESULT();
}
