import CloudRecCore

public extension TrackedTask {
    /// The task as the registration API shows it.
    public var view: TaskView {
        TaskView(key: key, vendor: vendor, status: status, vendorStatus: vendorStatus, sources: sources.map(\.rawValue),
                 fields: spec.fields, labels: spec.labels, files: observation?.files ?? [], lastSuccess: lastSuccess,
                 endedAt: endedAt, registeredAt: registeredAt)
    }
}
