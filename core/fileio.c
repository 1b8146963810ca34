/* fileio.c - atomic output files and directory creation. */
#include "brainstage/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *bs_temp_path_for(const char *final_path, bs_error *err)
{
    const char *slash = strrchr(final_path, '/');
    size_t dir_len = slash ? (size_t)(slash - final_path + 1) : 0;
    const char *base = slash ? slash + 1 : final_path;
    if (!*base) {
        bs_error_set(err, BS_ERR_USAGE, "%s: output path names a folder, expected a file", final_path);
        return NULL;
    }
    size_t len = dir_len + 1 + strlen(base) + sizeof ".tmp.XXXXXX";
    char *tmp = malloc(len);
    if (!tmp) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* The temporary keeps the final name's extension at the end so writers
     * that look at it (nifticlib's .gz detection) behave the same. */
    snprintf(tmp, len, "%.*s.tmp.XXXXXX", (int)dir_len, final_path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        bs_error_set(err, BS_ERR_IO, "%s: cannot create a temporary file in the output folder: %s",
                      final_path, strerror(errno));
        free(tmp);
        return NULL;
    }
    /* mkstemp creates 0600; outputs are ordinary files, 0666 less the umask. */
    mode_t mask = umask(0);
    umask(mask);
    int chmod_rc = fchmod(fd, 0666 & ~mask);
    (void)chmod_rc; /* not fatal: the file stays ours and usable */
    close(fd);
    /* Rename the unique stub to "<dir>.tmp.XXXXXX.<base>" so the extension survives. */
    size_t full_len = strlen(tmp) + 1 + strlen(base) + 1;
    char *full = malloc(full_len);
    if (!full) {
        unlink(tmp);
        free(tmp);
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(full, full_len, "%s.%s", tmp, base);
    if (rename(tmp, full) != 0) {
        bs_error_set(err, BS_ERR_IO, "%s: cannot create a temporary file: %s", final_path, strerror(errno));
        unlink(tmp);
        free(tmp);
        free(full);
        return NULL;
    }
    free(tmp);
    return full;
}

int bs_rename_into_place(const char *temp_path, const char *final_path, bs_error *err)
{
    /* Files written through a path (nifticlib, zlib, jansson) get their
     * data to the disk here, before the rename makes them visible: else a
     * crash of the machine could leave an empty file under the final name. */
    int fd = open(temp_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        int bad = fsync(fd) != 0 && errno != EINVAL && errno != EROFS;
        int e = errno;
        close(fd);
        if (bad) {
            unlink(temp_path);
            return bs_error_set(err, BS_ERR_IO, "%s: write failed: %s", final_path, strerror(e));
        }
    }
    if (rename(temp_path, final_path) != 0) {
        int e = errno;
        unlink(temp_path);
        return bs_error_set(err, BS_ERR_IO, "%s: cannot move the finished file into place: %s",
                            final_path, strerror(e));
    }
    return BS_OK;
}

int bs_atomic_open(bs_atomic_file *f, const char *final_path, bs_error *err)
{
    memset(f, 0, sizeof *f);
    f->temp_path = bs_temp_path_for(final_path, err);
    if (!f->temp_path)
        return err ? err->code : BS_ERR_IO;
    f->final_path = strdup(final_path);
    f->fp = fopen(f->temp_path, "wb");
    if (!f->fp || !f->final_path) {
        int e = errno;
        bs_atomic_abort(f);
        return bs_error_set(err, BS_ERR_IO, "%s: cannot open for writing: %s", final_path, strerror(e));
    }
    return BS_OK;
}

int bs_atomic_commit(bs_atomic_file *f, bs_error *err)
{
    if (!f->fp)
        return bs_error_set(err, BS_ERR_INTERNAL, "atomic file committed twice");
    /* Flush first: a stream that already failed usually fails again here
     * with the real reason (ENOSPC, EFBIG) instead of a bare error flag. */
    errno = 0;
    int failed = fflush(f->fp) != 0;
    int e = failed ? errno : 0;
    if (!failed && ferror(f->fp)) {
        failed = 1;
        e = EIO;
    }
    if (!failed && fsync(fileno(f->fp)) != 0 && errno != EINVAL) {
        failed = 1;
        e = errno;
    }
    if (fclose(f->fp) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    f->fp = NULL;
    if (failed) {
        int rc = bs_error_set(err, BS_ERR_IO, "%s: write failed: %s", f->final_path, strerror(e));
        bs_atomic_abort(f);
        return rc;
    }
    int rc = bs_rename_into_place(f->temp_path, f->final_path, err);
    free(f->temp_path);
    f->temp_path = NULL;
    free(f->final_path);
    f->final_path = NULL;
    return rc;
}

void bs_atomic_abort(bs_atomic_file *f)
{
    if (f->fp) {
        fclose(f->fp);
        f->fp = NULL;
    }
    if (f->temp_path) {
        unlink(f->temp_path);
        free(f->temp_path);
        f->temp_path = NULL;
    }
    free(f->final_path);
    f->final_path = NULL;
}

int bs_mkdirs(const char *path, bs_error *err)
{
    char *p = strdup(path);
    if (!p)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char saved = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int rc = bs_error_set(err, BS_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
                free(p);
                return rc;
            }
            *s = saved;
            if (!saved)
                break;
        }
    }
    struct stat st;
    int ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return ok ? BS_OK : bs_error_set(err, BS_ERR_IO, "%s: not a folder", path);
}

int bs_pending_prepare(bs_pending_file *f, const char *final_path, bs_error *err)
{
    memset(f, 0, sizeof *f);
    const char *slash = strrchr(final_path, '/');
    if (slash && slash != final_path) {
        char *dir = strndup(final_path, (size_t)(slash - final_path));
        if (!dir)
            return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        int rc = bs_mkdirs(dir, err);
        free(dir);
        if (rc)
            return rc;
    }
    f->temp_path = bs_temp_path_for(final_path, err);
    if (!f->temp_path)
        return err ? err->code : BS_ERR_IO;
    f->final_path = strdup(final_path);
    if (!f->final_path) {
        bs_pending_discard(f);
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    }
    return BS_OK;
}

int bs_pending_commit(bs_pending_file *f, bs_error *err)
{
    if (!f->temp_path)
        return BS_OK;
    int rc = bs_rename_into_place(f->temp_path, f->final_path, err);
    free(f->temp_path);
    f->temp_path = NULL;
    return rc;
}

void bs_pending_discard(bs_pending_file *f)
{
    if (f->temp_path) {
        unlink(f->temp_path);
        free(f->temp_path);
        f->temp_path = NULL;
    }
    free(f->final_path);
    f->final_path = NULL;
}
