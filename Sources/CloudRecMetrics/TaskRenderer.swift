import CloudRecCore
import Synchronization

public enum TaskRenderer {
    public static func render(_ task: TaskExport) -> RenderedTask {
        var out: [UInt8] = []
        out.reserveCapacity(1400)
        var ends: [Int] = []
        ends.reserveCapacity(TaskFamilies.all.count)
        let identity = [("vendor", task.vendor.rawValue), ("account", task.account), ("task_id", task.taskID)]

        for status in TaskStatus.allCases {
            SampleWriter.appendSample(into: &out, name: TaskFamilies.status.name, labels: identity + [("status", status.rawValue)],
                                      value: status == task.status ? 1 : 0)
        }
        ends.append(out.count)
        SampleWriter.appendSample(into: &out, name: TaskFamilies.info.name, labels: identity + [("vendor_status", task.vendorStatus)], value: 1)
        ends.append(out.count)
        for format in FileFormat.allCases {
            if let count = task.fileCounts[format], count > 0 {
                SampleWriter.appendSample(into: &out, name: TaskFamilies.files.name, labels: identity + [("format", format.rawValue)],
                                          value: Double(count))
            }
        }
        ends.append(out.count)
        if let uploads = task.uploadCounts {
            for state in UploadState.allCases {
                SampleWriter.appendSample(into: &out, name: TaskFamilies.uploadFiles.name,
                                          labels: identity + [("upload_state", state.rawValue)], value: Double(uploads[state] ?? 0))
            }
        }
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.sizeBytes, identity, task.totalSizeBytes.map(Double.init))
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.recordedSeconds, identity, task.recordedSeconds)
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.startTime, identity, task.startTime)
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.lastSuccess, identity, task.lastSuccess)
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.stalled, identity, task.stalled.map { $0 ? 1 : 0 })
        ends.append(out.count)
        if !task.labels.isEmpty {
            let extra = task.labels.sorted { $0.key < $1.key }.map { ("label_\($0.key)", $0.value) }
            SampleWriter.appendSample(into: &out, name: TaskFamilies.labels.name, labels: identity + extra, value: 1)
        }
        ends.append(out.count)
        // Trim the reservation when more than an eighth of it is unused (as kube-state-metrics does).
        if out.capacity - out.count > out.count / 8 { out = out.withUnsafeBufferPointer { Array($0) } }
        return RenderedTask(bytes: out, ends: ends)
    }

    private static func appendOptional(_ out: inout [UInt8], _ family: MetricFamily, _ labels: [(String, String)], _ value: Double?) {
        if let value { SampleWriter.appendSample(into: &out, name: family.name, labels: labels, value: value) }
    }
}
