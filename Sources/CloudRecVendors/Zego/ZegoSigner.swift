import Crypto

/// ZEGO server API signature v2.0: `hex(md5(AppId + SignatureNonce + ServerSecret + Timestamp))`.
/// Nothing of the request itself is signed, only the app, the nonce and the time.
public enum ZegoSigner {
    public static func signature(appID: String, nonce: String, serverSecret: String, timestamp: Int64) -> String {
        let input = appID + nonce + serverSecret + String(timestamp)
        return Hex.encode(Insecure.MD5.hash(data: Array(input.utf8)))
    }

    /// 16 hex characters from 8 random bytes, as the docs ask.
    public static func nonce(from bits: UInt64) -> String {
        let hex = String(bits, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }

    /// The common query parameters of every ZEGO server API call, in the order the docs list them.
    public static func commonQuery(action: String, appID: String, serverSecret: String, nonceBits: UInt64,
                                   timestamp: Int64) -> String {
        let nonce = nonce(from: nonceBits)
        let signature = signature(appID: appID, nonce: nonce, serverSecret: serverSecret, timestamp: timestamp)
        return "Action=\(PercentEncoding.encode(action))&AppId=\(appID)&SignatureNonce=\(nonce)"
            + "&Timestamp=\(timestamp)&Signature=\(signature)&SignatureVersion=2.0"
    }
}
