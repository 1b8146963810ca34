/* suggest.c - "did you mean" suggestions by edit distance. */
#include "brainstage/registry.h"

#include <stdlib.h>
#include <string.h>

/* Optimal-string-alignment distance: Levenshtein plus adjacent
 * transpositions, the commonest typo ("rosw" for "rows"). */
int bs_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), w = lb + 1;
    int *d = malloc((la + 1) * w * sizeof *d);
    if (!d)
        return (int)(la > lb ? la : lb);
    for (size_t i = 0; i <= la; i++)
        d[i * w] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = d[(i - 1) * w + j - 1] + cost;
            if (d[(i - 1) * w + j] + 1 < best)
                best = d[(i - 1) * w + j] + 1;
            if (d[i * w + j - 1] + 1 < best)
                best = d[i * w + j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[(i - 2) * w + j - 2] + 1 < best)
                best = d[(i - 2) * w + j - 2] + 1;
            d[i * w + j] = best;
        }
    int r = d[la * w + lb];
    free(d);
    return r;
}

const char *bs_suggest(const char *word, const char *const *candidates, int n)
{
    int limit = (int)strlen(word) / 3;
    if (limit < 1)
        limit = 1;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n; i++) {
        int d = bs_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}
