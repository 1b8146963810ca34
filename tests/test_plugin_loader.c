/* test_plugin_loader.c - dlopen loading, ABI checks, descriptor validation,
 * typed parameters with "did you mean", DAG linking and running. */
#include "brainstage/params.h"
#include "brainstage/pipeline.h"
#include "testutil.h"

#include <stdlib.h>
#include <unistd.h>

static char path_buf[4096];

static const char *built(const char *rel)
{
    const char *top = getenv("top_builddir");
    snprintf(path_buf, sizeof path_buf, "%s/%s", top ? top : ".", rel);
    return path_buf;
}

static bs_registry *test_registry(void)
{
    bs_registry *reg = bs_registry_new();
    bs_error err;
    int rc = bs_registry_load_module(reg, built("plugins/.libs/test_plugin.so"), &err);
    CHECK_MSG(rc == 0, "%s", err.message);
    return reg;
}

static void test_modules(void)
{
    bs_registry *reg = test_registry();
    bs_error err;
    CHECK(bs_registry_count(reg) == 4);
    CHECK(bs_registry_find(reg, "test-scale") != NULL);
    CHECK(bs_registry_find(reg, "test-sacle") == NULL);
    CHECK(!strcmp(bs_registry_suggest(reg, "test-sacle"), "test-scale"));
    /* the same module twice: duplicate stage names are refused */
    CHECK(bs_registry_load_module(reg, built("plugins/.libs/test_plugin.so"), &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "is already provided by");
    CHECK(bs_registry_count(reg) == 4);
    /* ABI mismatch */
    CHECK(bs_registry_load_module(reg, built("tests/plugins/.libs/bad_abi.so"), &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "bad_abi.so: plugin ABI 2.0 is not supported by this brainstage (ABI 1.0)");
    /* missing entry symbol */
    CHECK(bs_registry_load_module(reg, built("tests/plugins/.libs/no_entry.so"), &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "not a brainstage plugin: symbol bs_plugin_entry is missing");
    /* unreadable: a text file pretending to be a module */
    char fake[] = "/tmp/bs-fake-XXXXXX.so";
    int fd = mkstemps(fake, 3);
    CHECK(fd >= 0);
    CHECK(write(fd, "not elf\n", 8) == 8);
    close(fd);
    CHECK(bs_registry_load_module(reg, fake, &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "cannot load plugin module");
    unlink(fake);
    CHECK(bs_registry_load_module(reg, "/nonexistent/plugin.so", &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "/nonexistent/plugin.so: cannot load plugin module");
    bs_registry_free(reg);

    /* scanning a folder records broken modules as problems, keeps the rest */
    reg = bs_registry_new();
    char dirs[8192];
    snprintf(dirs, sizeof dirs, "%s", built("tests/plugins/.libs"));
    size_t len = strlen(dirs);
    snprintf(dirs + len, sizeof dirs - len, ":%s", built("plugins/.libs"));
    bs_registry_scan(reg, dirs);
    CHECK(bs_registry_find(reg, "test-source") != NULL);
    CHECK(bs_registry_problem_count(reg) >= 2);
    bs_registry_free(reg);
}

static int dummy_process(void *s, bs_data *const *in, bs_data **out, bs_error *err)
{
    (void)s; (void)in; (void)out; (void)err;
    return 0;
}
static void *dummy_create(const void *c, const bs_host *h, bs_error *e)
{
    (void)c; (void)h; (void)e;
    return malloc(1);
}

static void test_validation(void)
{
    typedef struct { int64_t n; } cfg;
    bs_param_desc outside[] = {{"n", BS_PARAM_INT, "1", 0, 10, NULL, "", 64}};
    bs_param_desc bad_default[] = {{"n", BS_PARAM_INT, "eleven", 0, 10, NULL, "", 0}};
    bs_param_desc no_choices[] = {{"n", BS_PARAM_ENUM, "a", 1, 0, NULL, "", 0}};
    bs_plugin p = {BS_PLUGIN_HEADER, .name = "ok", .create = dummy_create, .process = dummy_process,
                   .destroy = free, .config_size = sizeof(cfg)};
    bs_error err;
    CHECK(bs_plugin_validate(&p, "m.so", &err) == 0);
    bs_plugin q = p;
    q.abi_minor = BS_PLUGIN_ABI_MINOR + 1;
    CHECK(bs_plugin_validate(&q, "m.so", &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "upgrade brainstage");
    q = p;
    q.struct_size = 8;
    CHECK(bs_plugin_validate(&q, "m.so", &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "struct_size 8");
    q = p;
    q.name = "Bad Name";
    CHECK(bs_plugin_validate(&q, "m.so", &err) == BS_ERR_PLUGIN);
    q = p;
    q.process = NULL;
    CHECK(bs_plugin_validate(&q, "m.so", &err) == BS_ERR_PLUGIN);
    q = p;
    q.params = outside;
    q.n_params = 1;
    CHECK(bs_plugin_validate(&q, "m.so", &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "lies outside");
    q.params = bad_default;
    CHECK(bs_plugin_validate(&q, "m.so", &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "invalid default");
    q.params = no_choices;
    CHECK(bs_plugin_validate(&q, "m.so", &err) == BS_ERR_PLUGIN);
    CHECK_CONTAINS(err.message, "lists no choices");
}

static void test_params(void)
{
    bs_registry *reg = test_registry();
    const bs_plugin *scale = bs_registry_find(reg, "test-scale");
    bs_error err;
    bs_config *cfg = bs_config_new(scale, &err);
    CHECK(cfg != NULL);
    struct { double factor; const char *mode; int enabled; bs_double_list band; } view;
    memcpy(&view, bs_config_data(cfg), sizeof view);
    CHECK(view.factor == 2.0 && !strcmp(view.mode, "mul") && view.enabled == 1);
    CHECK(view.band.n == 2 && view.band.v[0] == 0.01 && view.band.v[1] == 0.1);
    CHECK(bs_config_set(cfg, "factr", "3", &err) == BS_ERR_USAGE);
    CHECK_CONTAINS(err.message, "unknown parameter 'factr' for stage type test-scale (did you mean 'factor'?)");
    CHECK(bs_config_set(cfg, "zzzzzz", "3", &err) == BS_ERR_USAGE);
    CHECK_CONTAINS(err.message, "see: brainstage plugin test-scale");
    CHECK(bs_config_set(cfg, "factor", "abc", &err) == BS_ERR_USAGE);
    CHECK_CONTAINS(err.message, "factor=abc: expected a finite number");
    CHECK(bs_config_set(cfg, "factor", "5000", &err) == BS_ERR_USAGE);
    CHECK_CONTAINS(err.message, "out of range: expected -1000..1000");
    CHECK(bs_config_set(cfg, "factor", "nan", &err) == BS_ERR_USAGE);
    CHECK(bs_config_set(cfg, "mode", "div", &err) == BS_ERR_USAGE);
    CHECK_CONTAINS(err.message, "expected one of mul|add");
    CHECK(bs_config_set(cfg, "enabled", "maybe", &err) == BS_ERR_USAGE);
    CHECK_CONTAINS(err.message, "expected yes or no");
    CHECK(bs_config_set(cfg, "band", "0.01,x", &err) == BS_ERR_USAGE);
    CHECK(bs_config_set(cfg, "band", "0.5,20", &err) == BS_ERR_USAGE);
    CHECK(bs_config_set(cfg, "factor", "-1.5", &err) == 0);
    CHECK(bs_config_set(cfg, "enabled", "no", &err) == 0);
    CHECK(bs_config_set(cfg, "band", "0.02,0.2,0.3", &err) == 0);
    memcpy(&view, bs_config_data(cfg), sizeof view);
    CHECK(view.factor == -1.5 && view.enabled == 0 && view.band.n == 3);
    bs_config_free(cfg);
    const bs_plugin *source = bs_registry_find(reg, "test-source");
    cfg = bs_config_new(source, &err);
    CHECK(bs_config_set(cfg, "rows", "2.5", &err) == BS_ERR_USAGE);
    CHECK_CONTAINS(err.message, "rows=2.5: expected an integer");
    CHECK(bs_config_set(cfg, "rows", "0", &err) == BS_ERR_USAGE);
    bs_config_free(cfg);
    bs_registry_free(reg);
}

/* Parses and links text against the test plugins; returns the graph or NULL. */
static bs_graph *link_text(bs_registry *reg, const char *text, bs_pipeline **p, bs_error *err)
{
    *p = bs_pipeline_parse_string(text, "g.pipeline", 0, NULL, err);
    CHECK_MSG(*p != NULL, "%s", err->message);
    return *p ? bs_graph_link(*p, reg, err) : NULL;
}

static void expect_link_error(bs_registry *reg, const char *text, const char *where, const char *what)
{
    bs_pipeline *p;
    bs_error err;
    bs_graph *g = link_text(reg, text, &p, &err);
    CHECK_MSG(g == NULL, "linked although it should fail: %s", text);
    CHECK_CONTAINS(err.message, where);
    CHECK_CONTAINS(err.message, what);
    bs_graph_free(g);
    bs_pipeline_free(p);
}

static void test_graph(void)
{
    bs_registry *reg = test_registry();
    expect_link_error(reg, "stage a test-sorce\n", "g.pipeline:1:9:", "unknown stage type 'test-sorce' (did you mean 'test-source'?)");
    expect_link_error(reg, "stage a test-source\nstage b test-scale input=aa\n", "g.pipeline:2:26:",
                      "input=aa refers to an undefined stage 'aa' (did you mean 'a'?)");
    expect_link_error(reg, "stage a test-source\nstage b test-scale input=a.nope\n", "g.pipeline:2:26:",
                      "has no output port 'nope'");
    expect_link_error(reg, "stage a test-source rows=0\n", "g.pipeline:1:21:", "rows=0 is out of range");
    expect_link_error(reg, "stage a test-source rosw=3\n", "g.pipeline:1:21:", "(did you mean 'rows'?)");
    expect_link_error(reg, "stage b test-scale\n", "g.pipeline:1:1:", "needs input input=STAGE (timeseries)");
    expect_link_error(reg, "stage x test-fail\nstage b test-scale input=x\n", "g.pipeline:2:26:",
                      "is a sink and has no output");
    expect_link_error(reg,
                      "stage a test-scale input=c\nstage b test-scale input=a\nstage c test-scale input=b\n",
                      "g.pipeline:", "the pipeline has a cycle: ");
    expect_link_error(reg, "stage a test-scale input=a\n", "g.pipeline:1:26:", "reads its own output");

    /* a diamond runs in dependency order with correct values */
    bs_pipeline *p;
    bs_error err;
    bs_graph *g = link_text(reg,
                            "stage j test-join a=s1 b=s2\n"
                            "stage src test-source rows=4 cols=2 seed=1\n"
                            "stage s1 test-scale input=src factor=2\n"
                            "stage s2 test-scale input=src factor=3 mode=add\n",
                            &p, &err);
    CHECK_MSG(g != NULL, "%s", err.message);
    if (g) {
        CHECK(!strcmp(bs_graph_stage_name(g, 0), "src"));
        CHECK(!strcmp(bs_graph_stage_name(g, 3), "j"));
        bs_run_options opt = {1, 7, 1};
        CHECK_MSG(bs_graph_run(g, &opt, &err) == 0, "%s", err.message);
        bs_graph_free(g);
    }
    bs_pipeline_free(p);

    /* a failing stage names its location */
    g = link_text(reg, "stage src test-source\nstage f test-fail input=src message=\"boom here\"\n", &p, &err);
    CHECK(g != NULL);
    if (g) {
        bs_run_options opt = {1, 7, 1};
        CHECK(bs_graph_run(g, &opt, &err) == BS_ERR_DATA);
        CHECK_CONTAINS(err.message, "g.pipeline:2:1: stage 'f' (test-fail): boom here");
        bs_graph_free(g);
    }
    bs_pipeline_free(p);
    bs_registry_free(reg);
}

int main(void)
{
    test_modules();
    test_validation();
    test_params();
    test_graph();
    return TEST_RESULT();
}
