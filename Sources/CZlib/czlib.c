// The system zlib, for crc32_combine and raw deflate segments (see GzipSegments.swift).
#include "czlib.h"
