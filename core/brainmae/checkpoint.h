/* core/brainmae/checkpoint.h - checkpoint helpers shared by training (resume)
 * and the public save/load calls.  Private to core/brainmae/. */
#ifndef BRAINMAE_CHECKPOINT_H
#define BRAINMAE_CHECKPOINT_H

#include "brainstage/brainmae.h"

int mae_checkpoint_save(const bs_brainmae *m, const char *path, int with_optimizer, int epoch,
                       bs_error *err);
int mae_checkpoint_read_config(const char *path, bs_brainmae_config *cfg, bs_error *err);
/* Loads weights (and moments + step when with_optimizer) into m, whose
 * config must equal the checkpoint's; *epoch gets the stored epoch. */
int mae_checkpoint_load_into(bs_brainmae *m, const char *path, int with_optimizer, int *epoch,
                            bs_error *err);

#endif
