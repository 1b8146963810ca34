/* pipeline_graph.c - linking a parsed pipeline into a checked DAG and running it. */
#include "brainstage/params.h"
#include "brainstage/pipeline.h"
#include "brainstage/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gnode {
    const bs_pipeline_stage *st;
    const bs_plugin *plugin;
    bs_config *cfg;
    int *in_node;     /* per input port: producing node, -1 = unbound */
    int *in_port;     /* per input port: producer's output port */
    int consumers;    /* edges reading this node's outputs */
    void *self;
    bs_data **outputs;
} gnode;

struct bs_graph {
    const bs_pipeline *p;
    int n;
    gnode *nodes;
    int *order;
};

static int at(bs_error *err, const bs_pipeline *p, int line, int col)
{
    return bs_error_prefix(err, "%s:%d:%d: ", p->path, line, col);
}

static int find_stage(const bs_pipeline *p, const char *name, size_t len)
{
    for (int i = 0; i < p->n_stages; i++)
        if (strlen(p->stages[i].name) == len && strncmp(p->stages[i].name, name, len) == 0)
            return i;
    return -1;
}

static const char *suggest_stage(const bs_pipeline *p, const char *name)
{
    const char **names = calloc((size_t)p->n_stages + 1, sizeof *names);
    if (!names)
        return NULL;
    for (int i = 0; i < p->n_stages; i++)
        names[i] = p->stages[i].name;
    const char *s = bs_suggest(name, names, p->n_stages);
    free(names);
    return s;
}

static int port_index(const bs_port_desc *ports, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(ports[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Binds input port `port` of node i from "stage" or "stage.port". */
static int bind_edge(bs_graph *g, int i, int port, const bs_pipeline_arg *a, bs_error *err)
{
    const bs_pipeline *p = g->p;
    gnode *n = &g->nodes[i];
    const char *dot = strchr(a->value, '.');
    size_t name_len = dot ? (size_t)(dot - a->value) : strlen(a->value);
    int src = find_stage(p, a->value, name_len);
    if (src < 0) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(name_len < 255 ? name_len : 255), a->value);
        const char *hint = suggest_stage(p, name);
        bs_error_set(err, BS_ERR_PIPELINE, "%s=%s refers to an undefined stage '%s'%s%s%s", a->key, a->value, name,
                     hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        return at(err, p, a->line, a->value_col);
    }
    if (src == i) {
        bs_error_set(err, BS_ERR_PIPELINE, "stage '%s' reads its own output: the pipeline must be acyclic", n->st->name);
        return at(err, p, a->line, a->value_col);
    }
    const bs_plugin *sp = g->nodes[src].plugin;
    int out = 0;
    if (dot) {
        out = port_index(sp->outputs, sp->n_outputs, dot + 1);
        if (out < 0) {
            bs_error_set(err, BS_ERR_PIPELINE, "stage '%s' (%s) has no output port '%s'", p->stages[src].name, sp->name, dot + 1);
            return at(err, p, a->line, a->value_col);
        }
    } else if (sp->n_outputs == 0) {
        bs_error_set(err, BS_ERR_PIPELINE, "stage '%s' (%s) is a sink and has no output to read", p->stages[src].name, sp->name);
        return at(err, p, a->line, a->value_col);
    }
    bs_port_kind have = sp->outputs[out].kind, want = n->plugin->inputs[port].kind;
    if (want != BS_PORT_ANY && want != have) {
        bs_error_set(err, BS_ERR_PIPELINE, "input '%s' of stage '%s' (%s) expects %s, but stage '%s' (%s) produces %s",
                     a->key, n->st->name, n->plugin->name, bs_port_kind_name(want), p->stages[src].name, sp->name,
                     bs_port_kind_name(have));
        return at(err, p, a->line, a->value_col);
    }
    n->in_node[port] = src;
    n->in_port[port] = out;
    g->nodes[src].consumers++;
    return BS_OK;
}

static int resolve_type(bs_graph *g, const bs_registry *reg, int i, bs_error *err)
{
    const bs_pipeline *p = g->p;
    gnode *n = &g->nodes[i];
    const bs_pipeline_stage *st = n->st;
    n->plugin = bs_registry_find(reg, st->type);
    if (!n->plugin) {
        const char *hint = bs_registry_suggest(reg, st->type);
        int problems = bs_registry_problem_count(reg);
        bs_error_set(err, BS_ERR_PIPELINE, "unknown stage type '%s'%s%s%s%s", st->type,
                     hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "",
                     problems ? "; some plugin modules failed to load (run: brainstage plugins)"
                              : "; list the available types with: brainstage plugins");
        return at(err, p, st->line, st->type_col);
    }
    return BS_OK;
}

static int link_node(bs_graph *g, int i, bs_error *err)
{
    const bs_pipeline *p = g->p;
    gnode *n = &g->nodes[i];
    const bs_pipeline_stage *st = n->st;
    uint32_t ni = n->plugin->n_inputs;
    n->in_node = malloc((ni ? ni : 1) * sizeof *n->in_node);
    n->in_port = malloc((ni ? ni : 1) * sizeof *n->in_port);
    n->cfg = bs_config_new(n->plugin, err);
    if (!n->in_node || !n->in_port || !n->cfg)
        return n->cfg ? bs_error_set(err, BS_ERR_NOMEM, "out of memory") : at(err, p, st->line, st->type_col);
    for (uint32_t k = 0; k < ni; k++)
        n->in_node[k] = n->in_port[k] = -1;
    for (int k = 0; k < st->n_args; k++) {
        const bs_pipeline_arg *a = &st->args[k];
        int port = port_index(n->plugin->inputs, ni, a->key);
        int rc = port >= 0 ? bind_edge(g, i, port, a, err) : bs_config_set(n->cfg, a->key, a->value, err);
        if (rc)
            return port >= 0 ? rc : at(err, p, a->line, port >= 0 ? a->value_col : a->col);
    }
    if (bs_config_check_required(n->cfg, err))
        return at(err, p, st->line, st->col);
    for (uint32_t k = 0; k < ni; k++)
        if (n->in_node[k] < 0 && !n->plugin->inputs[k].optional) {
            bs_error_set(err, BS_ERR_PIPELINE, "stage '%s' (%s) needs input %s=STAGE (%s)", st->name, n->plugin->name,
                         n->plugin->inputs[k].name, bs_port_kind_name(n->plugin->inputs[k].kind));
            return at(err, p, st->line, st->col);
        }
    return BS_OK;
}

/* Reports one cycle among the nodes Kahn's algorithm could not order. */
static int report_cycle(bs_graph *g, const int *indegree, bs_error *err)
{
    int start = -1;
    for (int i = 0; i < g->n && start < 0; i++)
        if (indegree[i] > 0)
            start = i;
    /* Walk backwards along unresolved inputs until a node repeats. */
    int *seen = calloc((size_t)g->n, sizeof *seen);
    int *path = malloc((size_t)(g->n + 1) * sizeof *path);
    if (!seen || !path) {
        free(seen);
        free(path);
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    }
    int len = 0, cur = start;
    while (!seen[cur]) {
        seen[cur] = len + 1;
        path[len++] = cur;
        gnode *n = &g->nodes[cur];
        int next = -1;
        for (uint32_t k = 0; k < n->plugin->n_inputs; k++)
            if (n->in_node[k] >= 0 && indegree[n->in_node[k]] > 0) {
                next = n->in_node[k];
                break;
            }
        if (next < 0)
            break;
        cur = next;
    }
    char msg[BS_ERROR_MESSAGE_MAX] = "";
    size_t used = 0;
    int first = seen[cur] ? seen[cur] - 1 : 0;
    /* path runs consumer -> producer; print in data-flow order. */
    for (int k = len - 1; k >= first && used < sizeof msg; k--)
        used += (size_t)snprintf(msg + used, sizeof msg - used, "%s -> ", g->p->stages[path[k]].name);
    if (used < sizeof msg)
        snprintf(msg + used, sizeof msg - used, "%s", g->p->stages[path[len - 1]].name);
    const bs_pipeline_stage *st = &g->p->stages[path[len - 1]];
    free(seen);
    free(path);
    bs_error_set(err, BS_ERR_PIPELINE, "the pipeline has a cycle: %s", msg);
    return at(err, g->p, st->line, st->col);
}

static int sort_nodes(bs_graph *g, bs_error *err)
{
    size_t n = g->n > 0 ? (size_t)g->n : 1;
    int *indegree = calloc(n, sizeof *indegree);
    g->order = malloc(n * sizeof *g->order);
    if (!indegree || !g->order) {
        free(indegree);
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n; i++)
        for (uint32_t k = 0; k < g->nodes[i].plugin->n_inputs; k++)
            if (g->nodes[i].in_node[k] >= 0)
                indegree[i]++;
    /* Kahn's algorithm, always taking the earliest ready stage in file order. */
    int done = 0;
    while (done < g->n) {
        int pick = -1;
        for (int i = 0; i < g->n && pick < 0; i++)
            if (indegree[i] == 0)
                pick = i;
        if (pick < 0) {
            int rc = report_cycle(g, indegree, err);
            free(indegree);
            return rc;
        }
        indegree[pick] = -1;
        g->order[done++] = pick;
        for (int i = 0; i < g->n; i++)
            for (uint32_t k = 0; k < g->nodes[i].plugin->n_inputs; k++)
                if (g->nodes[i].in_node[k] == pick)
                    indegree[i]--;
    }
    free(indegree);
    return BS_OK;
}

void bs_graph_free(bs_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n; i++) {
        gnode *n = &g->nodes[i];
        if (n->self)
            n->plugin->destroy(n->self);
        if (n->outputs) {
            for (uint32_t k = 0; k < n->plugin->n_outputs; k++)
                bs_data_free(n->outputs[k]);
            free(n->outputs);
        }
        bs_config_free(n->cfg);
        free(n->in_node);
        free(n->in_port);
    }
    free(g->nodes);
    free(g->order);
    free(g);
}

bs_graph *bs_graph_link(const bs_pipeline *p, const bs_registry *reg, bs_error *err)
{
    bs_graph *g = calloc(1, sizeof *g);
    if (!g || !(g->nodes = calloc((size_t)p->n_stages, sizeof *g->nodes))) {
        free(g);
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    g->p = p;
    g->n = p->n_stages;
    for (int i = 0; i < g->n; i++)
        g->nodes[i].st = &p->stages[i];
    /* Resolve every type first so edges can check their producers' ports. */
    for (int i = 0; i < g->n; i++)
        if (resolve_type(g, reg, i, err))
            goto fail;
    for (int i = 0; i < g->n; i++)
        if (link_node(g, i, err))
            goto fail;
    if (sort_nodes(g, err))
        goto fail;
    return g;
fail:
    bs_graph_free(g);
    return NULL;
}

int bs_graph_stage_count(const bs_graph *g) { return g->n; }
const char *bs_graph_stage_name(const bs_graph *g, int k) { return g->nodes[g->order[k]].st->name; }

static int stage_error(const bs_graph *g, const gnode *n, bs_error *err)
{
    bs_error_prefix(err, "stage '%s' (%s): ", n->st->name, n->plugin->name);
    return at(err, g->p, n->st->line, n->st->col);
}

/* Attributes flow downstream: an output inherits every attribute of its
 * inputs that the stage did not set itself (entities, source, space, ...),
 * so sinks can name files from them however many stages lie between. */
static int inherit_attrs(bs_data *out, bs_data *const *in, uint32_t n_in, bs_error *err)
{
    for (uint32_t j = 0; j < n_in; j++) {
        if (!in[j])
            continue;
        for (int a = 0; a < in[j]->n_attrs; a++)
            if (!bs_data_get_attr(out, in[j]->attr_keys[a])) {
                int rc = bs_data_set_attr(out, in[j]->attr_keys[a], in[j]->attr_values[a], err);
                if (rc)
                    return rc;
            }
        if (out->tr <= 0 && in[j]->tr > 0 && out->kind != BS_PORT_EMBEDDING && out->kind != BS_PORT_PREDICTION)
            out->tr = in[j]->tr;
    }
    return BS_OK;
}

/* Shapes each output kind must have, so a buggy plugin fails loudly here. */
static int check_output(const gnode *n, uint32_t k, const bs_data *d, bs_error *err)
{
    const bs_port_desc *port = &n->plugin->outputs[k];
    if (!d)
        return bs_error_set(err, BS_ERR_INTERNAL, "plugin produced no data for output '%s'", port->name);
    if (d->kind != port->kind)
        return bs_error_set(err, BS_ERR_INTERNAL, "plugin produced %s on output '%s' declared %s",
                            bs_port_kind_name(d->kind), port->name, bs_port_kind_name(port->kind));
    static const int rank[] = {[BS_PORT_TIMESERIES] = 2, [BS_PORT_MATRIX] = 2, [BS_PORT_MATRIX_BATCH] = 3,
                               [BS_PORT_EMBEDDING] = 2, [BS_PORT_PREDICTION] = 2};
    if (d->kind == BS_PORT_VOLUME4D)
        return d->volume ? BS_OK : bs_error_set(err, BS_ERR_INTERNAL, "volume4d output without a reader");
    if (!d->tensor || d->tensor->ndim != rank[d->kind])
        return bs_error_set(err, BS_ERR_INTERNAL, "output '%s' (%s) must be a rank-%d tensor", port->name,
                            bs_port_kind_name(d->kind), rank[d->kind]);
    const int64_t *s = d->tensor->shape;
    if (d->kind == BS_PORT_MATRIX && s[0] != s[1])
        return bs_error_set(err, BS_ERR_INTERNAL, "matrix output is %lldx%lld, not square", (long long)s[0], (long long)s[1]);
    if (d->kind == BS_PORT_MATRIX_BATCH && s[1] != s[2])
        return bs_error_set(err, BS_ERR_INTERNAL, "matrix_batch output matrices are not square");
    int64_t cols = d->kind == BS_PORT_MATRIX_BATCH ? s[2] : s[1];
    if (d->n_labels && d->n_labels != cols)
        return bs_error_set(err, BS_ERR_INTERNAL, "output has %d labels for %lld columns", d->n_labels, (long long)cols);
    return BS_OK;
}

int bs_graph_run(bs_graph *g, const bs_run_options *opt, bs_error *err)
{
    bs_run_options defaults = {1, 42, 0};
    if (!opt)
        opt = &defaults;
    int rc = BS_OK;
    int *remaining = calloc((size_t)g->n, sizeof *remaining);
    if (!remaining)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n; i++)
        remaining[i] = g->nodes[i].consumers;
    for (int k = 0; k < g->n && !rc; k++) {
        gnode *n = &g->nodes[g->order[k]];
        bs_host host = {sizeof(bs_host), opt->threads > 0 ? opt->threads : 1,
                        bs_splitmix64(opt->seed) ^ (uint64_t)g->order[k], opt->quiet, n->st->name};
        n->self = n->plugin->create(bs_config_data(n->cfg), &host, err);
        if (!n->self)
            rc = stage_error(g, n, err);
    }
    for (int k = 0; k < g->n && !rc; k++) {
        int idx = g->order[k];
        gnode *n = &g->nodes[idx];
        uint32_t ni = n->plugin->n_inputs, no = n->plugin->n_outputs;
        bs_data **in = calloc(ni ? ni : 1, sizeof *in);
        n->outputs = calloc(no ? no : 1, sizeof *n->outputs);
        if (!in || !n->outputs) {
            free(in);
            rc = bs_error_set(err, BS_ERR_NOMEM, "out of memory");
            break;
        }
        for (uint32_t j = 0; j < ni; j++)
            in[j] = n->in_node[j] >= 0 ? g->nodes[n->in_node[j]].outputs[n->in_port[j]] : NULL;
        bs_log(BS_LOG_INFO, "stage %s (%s)", n->st->name, n->plugin->name);
        rc = n->plugin->process(n->self, in, n->outputs, err);
        for (uint32_t j = 0; j < no && !rc; j++)
            rc = check_output(n, j, n->outputs[j], err);
        for (uint32_t j = 0; j < no && !rc; j++)
            rc = inherit_attrs(n->outputs[j], in, ni, err);
        free(in);
        if (rc) {
            if (err && err->code == BS_OK)
                bs_error_set(err, BS_ERR_INTERNAL, "plugin failed without an error message");
            rc = stage_error(g, n, err);
            break;
        }
        /* Release inputs nobody else will read (keeps peak memory low). */
        for (uint32_t j = 0; j < ni; j++) {
            int src = n->in_node[j];
            if (src >= 0 && --remaining[src] == 0) {
                for (uint32_t o = 0; o < g->nodes[src].plugin->n_outputs; o++) {
                    bs_data_free(g->nodes[src].outputs[o]);
                    g->nodes[src].outputs[o] = NULL;
                }
            }
        }
    }
    /* Outputs move into place only after every stage succeeded. */
    for (int k = 0; k < g->n && !rc; k++) {
        gnode *n = &g->nodes[g->order[k]];
        if (n->plugin->finalize && (rc = n->plugin->finalize(n->self, err)))
            rc = stage_error(g, n, err);
    }
    free(remaining);
    return rc;
}
