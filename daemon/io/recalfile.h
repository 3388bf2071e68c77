/*
 * recalfile.h - replacing a calibrated output with its recalibration, crash-safely
 * (adapter; queue.h "Recalibration" is the whole protocol).
 *
 * Beside the output FINAL (same folder) live two names: STAGED ".<base>.recal-new", the
 * new output written completely and durably first (the engine writes it like any output),
 * and BACKUP ".<base>.recal-old", a hard link to the old output. ac_recalfile_swap links
 * FINAL to BACKUP, renames STAGED over FINAL (atomic: FINAL is always the old or the new
 * file, whole) and fsyncs the folder. Until the catalogue records the new output, the old
 * one can come back (ac_recalfile_restore: BACKUP renamed over FINAL, STAGED removed);
 * once recorded, BACKUP is removed (ac_recalfile_remove). Every function is idempotent,
 * so recovery after a crash at any point just calls restore (not recorded) or remove
 * (recorded).
 *
 * All operations are relative to the folder opened with O_DIRECTORY|O_NOFOLLOW.
 * Errors: 0 or -errno with a message naming the path.
 * Thread: any (pool threads; start-up). No shared state.
 */
#ifndef AC_RECALFILE_H
#define AC_RECALFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* ac_recalfile_names builds STAGED and BACKUP for final (each size bytes). -ENAMETOOLONG. */
int ac_recalfile_names(const char *final, char *staged, char *backup, size_t size);

/* ac_recalfile_swap puts STAGED in place of FINAL, keeping the old FINAL as BACKUP
 * (*kept: whether there was an old FINAL to keep), durably. */
int ac_recalfile_swap(const char *final, bool *kept, ac_err_t *e);

/* ac_recalfile_restore brings the old output back when BACKUP exists and removes
 * STAGED and the temporary files of an interrupted write of it (call it only when no
 * writer of STAGED runs); *restored says whether FINAL was put back. */
int ac_recalfile_restore(const char *final, bool *restored, ac_err_t *e);

/* ac_recalfile_remove removes BACKUP (absent is fine), durably. */
int ac_recalfile_remove(const char *final, ac_err_t *e);

#endif
