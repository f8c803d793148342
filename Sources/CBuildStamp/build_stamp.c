#include "CBuildStamp.h"

#ifndef CLOUDREC_BUILD_REVISION
#define CLOUDREC_BUILD_REVISION "unknown"
#endif
#ifndef CLOUDREC_BUILD_DATE
#define CLOUDREC_BUILD_DATE "unknown"
#endif

const char *cloudrec_build_revision(void) { return CLOUDREC_BUILD_REVISION; }
const char *cloudrec_build_date(void) { return CLOUDREC_BUILD_DATE; }
