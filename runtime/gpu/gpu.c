/*
 * gpu.c: gpu_open, choosing the driver behind the device layer (gpu.h).
 *
 * HIP (gpu_hip.c) is tried first and CUDA (gpu_cuda.c) second, unless the
 * caller names one. A driver that is missing, or present without a device
 * (libamdhip64 on an NVIDIA machine, say), answers RF_E_UNSUPPORTED and the
 * next one is tried; any other failure (a device that is there but will not
 * open, an ordinal past the last device) ends the search, because a second
 * driver would only hide it. When neither has a device, the one-line error
 * says what each one lacked: "no GPU: hip: libamdhip64.so not found; cuda:
 * libcuda.so.1 not found". A driver whose SDK headers were not found at
 * configure time is compiled out and says so in the same place.
 *
 * This file holds no driver state and calls no driver itself.
 */
#include "runtime/gpu/gpu.h"

#include <string.h>

#include "support/error.h"

/* gpu_hip.c, gpu_cuda.c */
rf_status gpu_hip_open(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err);
rf_status gpu_cuda_open(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err);

typedef rf_status (*driver_open)(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err);

#ifndef ROCMFORGE_HAVE_HIP
rf_status gpu_hip_open(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err)
{
    (void)ordinal, (void)api, (void)info;
    return rf_fail(err, RF_E_UNSUPPORTED, "hip: this build has no HIP support (configure with libamdhip64-dev installed)");
}
#endif

#ifndef ROCMFORGE_HAVE_CUDA
rf_status gpu_cuda_open(int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err)
{
    (void)ordinal, (void)api, (void)info;
    return rf_fail(err, RF_E_UNSUPPORTED,
                   "cuda: this build has no CUDA support (configure with the CUDA toolkit's headers installed)");
}
#endif

rf_status gpu_open(const char *which, int ordinal, const gpu_api **api, gpu_device_info *info, rf_error *err)
{
    if (!api || !info)
        return rf_fail(err, RF_E_ARG, "gpu_open: no api or info pointer");
    *api = NULL;
    memset(info, 0, sizeof *info);
    if (which && !strcmp(which, "hip"))
        return gpu_hip_open(ordinal, api, info, err);
    if (which && !strcmp(which, "cuda"))
        return gpu_cuda_open(ordinal, api, info, err);
    if (which && *which)
        return rf_fail(err, RF_E_ARG, "unknown GPU driver '%s': expected hip or cuda", which);

    static const driver_open drivers[] = {gpu_hip_open, gpu_cuda_open};
    char why[2][sizeof err->msg];
    for (int i = 0; i < 2; i++) {
        rf_error e = {0};
        rf_status st = drivers[i](ordinal, api, info, &e);
        if (st != RF_E_UNSUPPORTED) {
            if (err && st != RF_OK)
                *err = e;
            return st;
        }
        memcpy(why[i], e.msg, sizeof e.msg);
    }
    return rf_fail(err, RF_E_UNSUPPORTED, "no GPU: %.250s; %.250s", why[0], why[1]);
}
