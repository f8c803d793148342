import CBuildStamp

/// Reported by `cloudrec_exporter_build_info` and `--version`. The version is the source of truth for releases
/// (scripts/release.sh reads it from `--version`); revision and build date are stamped in at build time by
/// scripts/release.sh (see Sources/CBuildStamp) and are "unknown" in a plain `swift build`.
public enum BuildInfo {
    public static let version = "0.1.0"
    public static let revision = String(cString: cloudrec_build_revision())
    public static let buildDate = String(cString: cloudrec_build_date())

    public static var platform: String {
        #if arch(x86_64)
        let arch = "amd64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "unknown"
        #endif
        #if os(Linux)
        return "linux/\(arch)"
        #elseif os(macOS)
        return "darwin/\(arch)"
        #else
        return "unknown/\(arch)"
        #endif
    }

    /// What `--version` prints, in the layout of the Prometheus exporters' `--version`.
    public static var versionText: String {
        """
        cloudrec_exporter, version \(version) (revision: \(revision))
          build date:       \(buildDate)
          platform:         \(platform)
        """
    }
}
