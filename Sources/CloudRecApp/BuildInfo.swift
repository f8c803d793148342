/// Reported by `cloudrec_exporter_build_info` and `--version`.
public enum BuildInfo {
    public static let version = "0.1.0"
    public static let revision = "unknown"
}
