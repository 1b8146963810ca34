/* brainstage/data.h - the values that flow along pipeline edges.
 *
 * A bs_data is one of the port kinds below.  Array kinds carry a float32
 * tensor plus metadata (TR, ROI labels, per-ROI coverage, free-form string
 * attributes such as BIDS entities and provenance).  A volume4d is lazy: it
 * holds an open streaming NIfTI reader so consumers pull one volume at a
 * time and memory stays O(one volume). */
#ifndef BRAINSTAGE_DATA_H
#define BRAINSTAGE_DATA_H

#include <stdint.h>
#include "brainstage/error.h"
#include "brainstage/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bs_port_kind {
    BS_PORT_NONE = 0,
    BS_PORT_VOLUME4D = 1,     /* streamed BOLD run (bs_nifti_reader) */
    BS_PORT_TIMESERIES = 2,   /* tensor [T, R]; labels = R ROI names */
    BS_PORT_MATRIX = 3,       /* tensor [R, R]; labels = R ROI names */
    BS_PORT_MATRIX_BATCH = 4, /* tensor [N, R, R] */
    BS_PORT_EMBEDDING = 5,    /* tensor [N, D] */
    BS_PORT_PREDICTION = 6,   /* tensor [N, C]; labels = C class names */
    BS_PORT_ANY = 15          /* input ports only: accepts every kind */
} bs_port_kind;

const char *bs_port_kind_name(bs_port_kind kind);
/* Parses "timeseries" etc.; BS_PORT_NONE when unknown. */
bs_port_kind bs_port_kind_parse(const char *name);

struct bs_nifti_reader;

typedef struct bs_data {
    bs_port_kind kind;
    bs_tensor *tensor;               /* owned; NULL for volume4d */
    struct bs_nifti_reader *volume;  /* owned; volume4d only */
    double tr;                       /* seconds between rows/volumes; 0 = unknown */
    int n_labels;
    char **labels;                   /* owned strings, n_labels of them */
    double *coverage;                /* owned, n_labels values, or NULL */
    int n_attrs;
    char **attr_keys;                /* owned */
    char **attr_values;              /* owned */
} bs_data;

/* Takes ownership of tensor (even on failure). */
bs_data *bs_data_new(bs_port_kind kind, bs_tensor *tensor, bs_error *err);
/* Takes ownership of reader (even on failure). */
bs_data *bs_data_new_volume(struct bs_nifti_reader *reader, double tr, bs_error *err);
void bs_data_free(bs_data *d);

/* Copies labels (n strings) into d, replacing any present. */
int bs_data_set_labels(bs_data *d, int n, const char *const *labels, bs_error *err);
/* Copies n coverage fractions into d. */
int bs_data_set_coverage(bs_data *d, int n, const double *coverage, bs_error *err);
/* Sets or replaces string attribute key. */
int bs_data_set_attr(bs_data *d, const char *key, const char *value, bs_error *err);
/* NULL when absent. */
const char *bs_data_get_attr(const bs_data *d, const char *key);
/* Copies TR, attributes and (when label counts fit) labels and coverage
 * from src to dst: the usual first step of a transform stage. */
int bs_data_copy_meta(bs_data *dst, const bs_data *src, bs_error *err);

/* Expands {key} in template with d's attributes (e.g. "{entities}_atlas-{atlas}");
 * "{{" is a literal brace.  Unknown keys are an error naming the key.
 * Returns a malloc'd string or NULL. */
char *bs_data_format(const bs_data *d, const char *template_text, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
