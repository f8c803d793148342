import CloudRecCore
import CloudRecHTTP
import CloudRecPolling

// MARK: CallbackReceiver (POST /callbacks/{account})

extension ExporterApp: CallbackReceiver {
    public func receiveCallback(account: String, headers: [String: String], body: [UInt8]?) -> CallbackReply {
        callbacks.receive(account: account, headers: headers, body: body)
    }
}
