/*
 * nrt_profile.h - the runtime's profiling brackets: per-model profiles
 * (nrt_profile_start/stop) and the runtime-wide inspect session (nrt_inspect_*).
 *
 * Written for nrt-async-shim from the facts in docs/neuron-abi.md and the
 * runtime's public API reference; not a copy of the vendor header. Only the
 * calls whose prototypes are established are declared here.
 */
#ifndef NRT_PROFILE_H
#define NRT_PROFILE_H

#include <stdbool.h>

#include "nrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Profile the executions of model from now on; filename is the one later given
 * to nrt_profile_stop. */
NRT_STATUS nrt_profile_start(nrt_model_t *model, const char *filename);
/* Stop profiling and write what was collected to filename. */
NRT_STATUS nrt_profile_stop(const char *filename);

/* ---- inspect sessions ---- */

/* Options of nrt_inspect_begin_with_options: opaque, made by
 * nrt_inspect_config_allocate and changed only through the setters. */
typedef struct nrt_inspect_config nrt_inspect_config_t;

NRT_STATUS nrt_inspect_config_allocate(nrt_inspect_config_t **options);
NRT_STATUS nrt_inspect_config_free(nrt_inspect_config_t *options);
NRT_STATUS nrt_inspect_config_set_defaults(nrt_inspect_config_t *options);
/* The string is copied; it must be non-empty. */
NRT_STATUS nrt_inspect_config_set_output_dir(nrt_inspect_config_t *options, const char *output_dir);
NRT_STATUS nrt_inspect_config_set_enable_inspect(nrt_inspect_config_t *options, bool enable_inspect);

/* Begin a session configured by the NEURON_RT_INSPECT_* environment variables. */
NRT_STATUS nrt_inspect_begin(void);
/* Begin a session configured by options (NULL: the defaults); ignores the
 * NEURON_RT_INSPECT_* variables. */
NRT_STATUS nrt_inspect_begin_with_options(nrt_inspect_config_t *options);
/* End the session and write what it captured. */
NRT_STATUS nrt_inspect_stop(void);

#ifdef __cplusplus
}
#endif

#endif /* NRT_PROFILE_H */
