/// The recording vendors the exporter knows. The raw value is the config's `vendor:` name and the `vendor` label.
public enum Vendor: String, CaseIterable, Sendable, Codable, Hashable {
    case agora
    case zego
    case tencentTRTC = "tencent_trtc"
    case alibabaLive = "alibaba_live"
    case alibabaIMS = "alibaba_ims"
}
