import CloudRecCore
import CloudRecVendors

/// What verified vendor callbacks said about a task, kept next to the polled observation and merged with it when the
/// task is exported (docs/callbacks.md, "What wins"):
///
/// - An abnormal exit makes the task `failed`, whatever polling says, also after the poller marked it completed from
///   a not-found answer (Tencent's ended-task error says nothing about failure). It is never undone.
/// - A normal exit makes a task that polling does not show as ended `completed`; a vendor's own terminal status wins
///   (ZEGO 4 stays `failed`).
/// - A start event turns a task that was never polled successfully `running`; any poll answer replaces that.
/// - Upload states: a vendor's own per-file states (ZEGO polling) win when it reports files. Otherwise callback
///   states fill `cloudrec_task_upload_files`: files named by callbacks keep their latest state; an outcome for the
///   whole task applies to the other files polling knows, and counts the task as one file when no file is known.
public struct CallbackEvidence: Sendable, Codable, Hashable {
    public struct Exit: Sendable, Codable, Hashable {
        public var abnormal: Bool
        /// The vendor event that said so (`302`, `11`, `TaskStopped`).
        public var event: String
        public var reason: String?
    }

    public var started = false
    public var exit: Exit?
    /// Files named by callbacks, with their latest upload state.
    public var files: [RecordingFile] = []
    /// The latest upload outcome given for the task as a whole (no file names).
    public var taskUploadState: UploadState?
    public var lastEvent: String?
    public var lastEventAt: Double?

    public init() {}

    public var hasUploadEvidence: Bool { taskUploadState != nil || files.contains { $0.uploadState != nil } }

    /// Upload states from callbacks per file name, given the files polling knows (`""`: the task as one file).
    func uploadStates(polledFiles: [RecordingFile]) -> [(name: String, state: UploadState)] {
        var states: [(name: String, state: UploadState)] = []
        for file in files { if let state = file.uploadState { states.append((file.name, state)) } }
        if let taskUploadState {
            let named = Set(files.map(\.name))
            let others = polledFiles.filter { !named.contains($0.name) }
            for file in others { states.append((file.name, taskUploadState)) }
            if others.isEmpty, files.isEmpty { states.append(("", taskUploadState)) }
        }
        return states
    }

    mutating func merge(_ file: RecordingFile) {
        if let index = files.firstIndex(where: { $0.name == file.name }) {
            var merged = file
            merged.sizeBytes = file.sizeBytes ?? files[index].sizeBytes
            merged.durationSeconds = file.durationSeconds ?? files[index].durationSeconds
            files[index] = merged
        } else if files.count < 10_000 {
            files.append(file)
        }
    }
}

extension TrackedTask {
    /// The vendor's required task fields are present, so its status API can be asked. A task announced by a callback
    /// may lack them (Agora's notices carry no `resource_id`): it is then followed through callbacks only, until a
    /// registration supplies them.
    public var hasPollingFields: Bool {
        VendorCatalog.schema(for: vendor).taskFields.allSatisfy { !$0.required || spec.fields[$0.name] != nil }
    }

    /// Applies one callback event. Returns true when the task just became terminal.
    mutating func applyCallback(_ event: CallbackEvent, name: String, now: Double) -> Bool {
        let wasEnded = endedAt != nil
        var evidence = callback ?? CallbackEvidence()
        evidence.lastEvent = name
        evidence.lastEventAt = now
        switch event.kind {
        case .started:
            evidence.started = true
        case .exitedNormally:
            if evidence.exit == nil { evidence.exit = .init(abnormal: false, event: name, reason: event.reason) }
        case .exitedAbnormally:
            if evidence.exit?.abnormal != true { evidence.exit = .init(abnormal: true, event: name, reason: event.reason) }
        case .uploadSucceeded, .uploadedToBackup, .uploadFailed:
            if event.files.isEmpty {
                evidence.taskUploadState = event.kind.uploadState
            } else {
                for file in event.files { evidence.merge(file) }
            }
        case .other:
            break
        }
        callback = evidence
        applyCallbackVerdict(now: now)
        return !wasEnded && endedAt != nil
    }

    /// Lays callback evidence over the polled status (after every poll and every callback).
    mutating func applyCallbackVerdict(now: Double) {
        guard let evidence = callback else { return }
        if let exit = evidence.exit {
            if exit.abnormal, status != .failed {
                status = .failed
                vendorStatus = "callback:\(exit.event)"
            } else if !exit.abnormal, !status.isTerminal {
                status = .completed
                vendorStatus = "callback:\(exit.event)"
            }
            if endedAt == nil {
                endedAt = now
                endedBy = .callback
            }
        } else if evidence.started, !everSeen, status == .unknown, notFoundSince == nil, lastResult?.outcome != .notFound {
            status = .running
            vendorStatus = "callback:\(evidence.lastEvent ?? "started")"
        }
    }

    /// Upload states per file: the vendor's own per-file states when it reports files, otherwise the callbacks'
    /// (nil when neither says anything). `""` names the task counted as one file.
    var mergedUploadStates: [(name: String, state: UploadState)]? {
        if let observation, observation.reportsUploadStates, !observation.files.isEmpty || callback?.hasUploadEvidence != true {
            return observation.files.compactMap { file in file.uploadState.map { (file.name, $0) } }
        }
        guard let callback, callback.hasUploadEvidence else { return nil }
        return callback.uploadStates(polledFiles: observation?.files ?? [])
    }

    /// Upload counts for `cloudrec_task_upload_files` (nil when neither the vendor nor callbacks say anything).
    var mergedUploadCounts: [UploadState: Int]? {
        mergedUploadStates.map { states in states.reduce(into: [:]) { counts, file in counts[file.state, default: 0] += 1 } }
    }

    /// Files for the per-format counts: the polled ones, or the callbacks' when polling knows none.
    var exportedFiles: [RecordingFile] {
        let polled = observation?.files ?? []
        return polled.isEmpty ? (callback?.files ?? []) : polled
    }
}
