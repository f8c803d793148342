#ifndef CBUILDSTAMP_H
#define CBUILDSTAMP_H

/// Revision (git commit) and build date stamped in by scripts/release.sh through the environment variables
/// CLOUDREC_BUILD_REVISION and CLOUDREC_BUILD_DATE, which Package.swift turns into defines for build_stamp.c only
/// (so a new stamp recompiles one C file and relinks, nothing else). A plain `swift build` reports "unknown".
const char *cloudrec_build_revision(void);
const char *cloudrec_build_date(void);

#endif
