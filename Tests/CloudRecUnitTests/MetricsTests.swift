@testable import CloudRecMetrics
import CloudRecCore
import Testing

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
private func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("SampleWriter")
struct SampleWriterTests {
    @Test func escapesBackslashQuoteAndNewlineInLabelValues() {
        var out: [UInt8] = []
        SampleWriter.appendSample(into: &out, name: "m", labels: [("a", "x\\y\"z\nw"), ("b", "plain é")], value: 1)
        let expected: [UInt8] = Array("m{a=\"x".utf8) + [0x5C, 0x5C] + Array("y".utf8) + [0x5C, 0x22] + Array("z".utf8)
            + [0x5C, 0x6E] + Array("w\",b=\"plain é\"} 1\n".utf8)
        #expect(out == expected)
        #expect(text(out) == #"m{a="x\\y\"z\nw",b="plain é"} 1"# + "\n")
    }

    @Test func noLabelsMeansNoBraces() {
        var out: [UInt8] = []
        SampleWriter.appendSample(into: &out, name: "up", labels: [], value: 0)
        #expect(text(out) == "up 0\n")
    }

    @Test(arguments: [
        (1.0, "1"), (0.0, "0"), (-3.0, "-3"), (0.5, "0.5"), (0.025, "0.025"), (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"),
        (Double.nan, "NaN"), (1_601_221_452.099, "1601221452.099"), (432_643_544, "432643544"),
        (999_999_999_999_999, "999999999999999"), (1e15, "1000000000000000.0"), (1e20, "1e+20"),
    ])
    func formatsValues(_ value: Double, _ expected: String) {
        #expect(SampleWriter.formatValue(value) == expected)
    }

    @Test func helpIsEscapedAndCounterNamesDropTotalInOpenMetrics() {
        let family = MetricFamily(name: "x_total", help: "a\\b\nc", type: .counter)
        #expect(text(family.header(.prometheusText)) == "# HELP x_total a\\\\b\\nc\n# TYPE x_total counter\n")
        #expect(text(family.header(.openMetrics)) == "# HELP x a\\\\b\\nc\n# TYPE x counter\n")
        let gauge = MetricFamily(name: "g_total_bytes", help: "h", type: .gauge)
        #expect(text(gauge.header(.openMetrics)) == "# HELP g_total_bytes h\n# TYPE g_total_bytes gauge\n")
    }
}

@Suite("TaskRenderer and TaskSeriesStore")
struct TaskRenderingTests {
    static let identity = #"vendor="zego",account="zego-eu",task_id="t1""#

    static func zegoExport(uploads: [UploadState: Int]? = [.uploading: 1, .uploaded: 2]) -> TaskExport {
        TaskExport(vendor: .zego, account: "zego-eu", taskID: "t1", status: .running, vendorStatus: "2",
                   fileCounts: [.mp4: 2, .hls: 1, .flv: 0], uploadCounts: uploads, totalSizeBytes: 1500,
                   recordedSeconds: 90.5, startTime: 1_601_221_452.099, lastSuccess: 1_700_000_000,
                   labels: ["team": "media", "room": "r\"1"], stalled: true)
    }

    @Test func rendersExactLinesInFixedLabelOrder() {
        let rendered = TaskRenderer.render(Self.zegoExport())
        let id = Self.identity
        let expected = """
        cloudrec_task_status{\(id),status="initializing"} 0
        cloudrec_task_status{\(id),status="running"} 1
        cloudrec_task_status{\(id),status="paused"} 0
        cloudrec_task_status{\(id),status="stopping"} 0
        cloudrec_task_status{\(id),status="completed"} 0
        cloudrec_task_status{\(id),status="failed"} 0
        cloudrec_task_status{\(id),status="unknown"} 0
        cloudrec_task_info{\(id),vendor_status="2"} 1
        cloudrec_task_files{\(id),format="mp4"} 2
        cloudrec_task_files{\(id),format="hls"} 1
        cloudrec_task_upload_files{\(id),upload_state="recording"} 0
        cloudrec_task_upload_files{\(id),upload_state="uploading"} 1
        cloudrec_task_upload_files{\(id),upload_state="uploaded"} 2
        cloudrec_task_upload_files{\(id),upload_state="backup_uploaded"} 0
        cloudrec_task_upload_files{\(id),upload_state="failed"} 0
        cloudrec_task_file_size_bytes{\(id)} 1500
        cloudrec_task_recorded_seconds{\(id)} 90.5
        cloudrec_task_start_time_seconds{\(id)} 1601221452.099
        cloudrec_task_last_success_timestamp_seconds{\(id)} 1700000000
        cloudrec_task_stalled{\(id)} 1
        cloudrec_task_labels{\(id),label_room="r\\"1",label_team="media"} 1

        """
        #expect(text(rendered.bytes) == expected)
        #expect(rendered.ends.count == TaskFamilies.all.count)
        // Each family's slice holds exactly that family's lines.
        for (index, family) in TaskFamilies.all.enumerated() {
            let lines = text(rendered.slice(index)).split(separator: "\n")
            #expect(!lines.isEmpty)
            #expect(lines.allSatisfy { $0.hasPrefix(family.name + "{") })
        }
    }

    @Test func exactlyOneStatusIsOne() {
        for status in TaskStatus.allCases {
            var export = Self.zegoExport()
            export.status = status
            let lines = text(TaskRenderer.render(export).slice(0)).split(separator: "\n")
            #expect(lines.count == 7)
            #expect(lines.filter { $0.hasSuffix(" 1") } == ["cloudrec_task_status{\(Self.identity),status=\"\(status.rawValue)\"} 1"])
        }
    }

    @Test func noUploadSeriesWithoutUploadCounts() {
        let rendered = TaskRenderer.render(Self.zegoExport(uploads: nil))
        #expect(rendered.slice(3).isEmpty)
        #expect(!text(rendered.bytes).contains("cloudrec_task_upload_files"))
    }

    @Test func emptyUploadCountsStillExportAllFiveStates() {
        let rendered = TaskRenderer.render(Self.zegoExport(uploads: [:]))
        let lines = text(rendered.slice(3)).split(separator: "\n")
        #expect(lines.count == UploadState.allCases.count)
        #expect(lines.allSatisfy { $0.hasSuffix(" 0") })
    }

    @Test func optionalFamiliesAreOmittedWhenUnknown() {
        let export = TaskExport(vendor: .agora, account: "a", taskID: "s", status: .unknown, vendorStatus: "")
        let rendered = TaskRenderer.render(export)
        let out = text(rendered.bytes)
        #expect(out.split(separator: "\n").count == 8) // 7 status lines + info
        #expect(out.contains(#"cloudrec_task_info{vendor="agora",account="a",task_id="s",vendor_status=""} 1"#))
        for index in 2..<TaskFamilies.all.count { #expect(rendered.slice(index).isEmpty) }
    }

    @Test func storeWritesEachFamilyHeaderOnceWithSamplesGrouped() {
        let store = TaskSeriesStore()
        store.set(TaskKey(account: "zego-eu", taskID: "t1"), Self.zegoExport())
        store.set(TaskKey(account: "agora-main", taskID: "s1"),
                  TaskExport(vendor: .agora, account: "agora-main", taskID: "s1", status: .paused, vendorStatus: "5",
                             fileCounts: [.hls: 1], startTime: 1_562_724_971.626, lastSuccess: 1_700_000_001))
        #expect(store.count == 2)
        let out = MetricsExposition(store: store, families: []).render(.prometheusText)
        let lines = text(out).split(separator: "\n").map(String.init)
        for family in TaskFamilies.all {
            #expect(lines.filter { $0 == "# TYPE \(family.name) gauge" }.count == 1)
            #expect(lines.filter { $0.hasPrefix("# HELP \(family.name) ") }.count == 1)
        }
        // Walk the output: every sample belongs to the family whose header came last, and families appear in order.
        var current = -1
        var samplesPerFamily = Array(repeating: 0, count: TaskFamilies.all.count)
        for line in lines {
            if line.hasPrefix("# HELP ") {
                let name = line.split(separator: " ")[2]
                let index = TaskFamilies.all.firstIndex { $0.name == name } ?? -1
                #expect(index > current)
                current = index
            } else if !line.hasPrefix("# ") {
                #expect(current >= 0 && line.hasPrefix(TaskFamilies.all[current].name + "{"), "\(line)")
                if current >= 0 { samplesPerFamily[current] += 1 }
            }
        }
        // status 7+7, info 1+1, files 2+1, uploads 5+0, size 1+0, seconds 1+0, start 1+1, last success 1+1, stalled 1+0,
        // labels 1+0
        #expect(samplesPerFamily == [14, 2, 3, 5, 1, 1, 2, 2, 1, 1])
    }

    @Test func storeRemoveAndCount() {
        let store = TaskSeriesStore()
        let a = TaskKey(account: "x", taskID: "1"), b = TaskKey(account: "x", taskID: "2"), c = TaskKey(account: "y", taskID: "1")
        for key in [a, b, c] {
            store.set(key, TaskExport(vendor: .zego, account: key.account, taskID: key.taskID, status: .running, vendorStatus: "2"))
        }
        #expect(store.count == 3)
        #expect(store.renderSnapshot().statusCounts == ["x": [.running: 2], "y": [.running: 1]])
        store.set(a, TaskExport(vendor: .zego, account: "x", taskID: "1", status: .completed, vendorStatus: "3"))
        #expect(store.count == 3)
        #expect(store.renderSnapshot().statusCounts == ["x": [.running: 1, .completed: 1], "y": [.running: 1]])
        store.remove(b)
        #expect(store.count == 2)
        #expect(!text(MetricsExposition(store: store, families: []).render(.prometheusText)).contains(#"account="x",task_id="2""#))
        store.removeAll { $0.account == "y" }
        #expect(store.count == 1)
        #expect(text(MetricsExposition(store: store, families: []).render(.prometheusText)).contains(#"account="x",task_id="1""#))
        // The counts follow the swap-removal of slots: what is left is exactly task a's status.
        #expect(store.renderSnapshot().statusCounts == ["x": [.completed: 1]])
        #expect(text(MetricsExposition(store: store, families: []).render(.openMetrics)).contains(#"task_id="1",status="completed"} 1"#))
        store.remove(a)
        #expect(store.count == 0)
        #expect(store.renderSnapshot().statusCounts.isEmpty)
        #expect(MetricsExposition(store: store, families: []).render(.prometheusText).isEmpty)
    }
}

@Suite("Exposition")
struct ExpositionTests {
    static func exposition(store: TaskSeriesStore = TaskSeriesStore()) -> (MetricsExposition, CounterFamily) {
        let counter = CounterFamily(name: "cloudrec_api_requests_total", help: "Calls.", labelNames: ["account", "outcome"])
        counter.increment(["a", "success"], by: 3)
        counter.touch(["a", "throttled"])
        let gauge = GaugeFamily(name: "cloudrec_config_last_reload_successful", help: "Reload.", labelNames: [])
        gauge.set([], 1)
        let empty = GaugeFamily(name: "cloudrec_empty", help: "Nothing.", labelNames: ["x"])
        return (MetricsExposition(store: store, families: [counter, gauge, empty]), counter)
    }

    @Test func openMetricsOutput() {
        let (exposition, counter) = Self.exposition()
        #expect(counter.value(["a", "success"]) == 3)
        #expect(text(exposition.render(.openMetrics)) == """
        # HELP cloudrec_api_requests Calls.
        # TYPE cloudrec_api_requests counter
        cloudrec_api_requests_total{account="a",outcome="success"} 3
        cloudrec_api_requests_total{account="a",outcome="throttled"} 0
        # HELP cloudrec_config_last_reload_successful Reload.
        # TYPE cloudrec_config_last_reload_successful gauge
        cloudrec_config_last_reload_successful 1
        # EOF

        """)
    }

    @Test func textOutput() {
        let (exposition, _) = Self.exposition()
        let out = text(exposition.render(.prometheusText))
        #expect(out == """
        # HELP cloudrec_api_requests_total Calls.
        # TYPE cloudrec_api_requests_total counter
        cloudrec_api_requests_total{account="a",outcome="success"} 3
        cloudrec_api_requests_total{account="a",outcome="throttled"} 0
        # HELP cloudrec_config_last_reload_successful Reload.
        # TYPE cloudrec_config_last_reload_successful gauge
        cloudrec_config_last_reload_successful 1

        """)
        #expect(!out.contains("# EOF"))
    }

    @Test func taskFamiliesFollowAndEOFIsLast() {
        let store = TaskSeriesStore()
        store.set(TaskKey(account: "a", taskID: "t"), TaskExport(vendor: .zego, account: "a", taskID: "t", status: .running, vendorStatus: "2"))
        let (exposition, _) = Self.exposition(store: store)
        let out = text(exposition.render(.openMetrics))
        #expect(out.hasSuffix("cloudrec_task_info{vendor=\"zego\",account=\"a\",task_id=\"t\",vendor_status=\"2\"} 1\n# EOF\n"))
        #expect(out.components(separatedBy: "# EOF").count == 2)
        #expect(out.contains("# TYPE cloudrec_task_status gauge\n"))
    }

    @Test func selfMetricsCountersUseBareNamesInOpenMetrics() {
        let metrics = ExporterMetrics(version: "1.0", revision: "abc")
        metrics.registerAccount(vendor: .zego, account: "z", api: "DescribeRecordStatus")
        metrics.recordCall(vendor: .zego, account: "z", api: "DescribeRecordStatus",
                           result: .failure(.throttled, code: "300000003", message: nil), seconds: 0.2)
        let out = text(MetricsExposition(store: TaskSeriesStore(), families: metrics.families).render(.openMetrics))
        for name in ["cloudrec_api_requests", "cloudrec_api_errors", "cloudrec_api_throttled"] {
            #expect(out.contains("# TYPE \(name) counter\n"))
            #expect(!out.contains("# TYPE \(name)_total"))
            #expect(!out.contains("# HELP \(name)_total"))
        }
        #expect(out.contains(#"cloudrec_api_errors_total{vendor="zego",account="z",api="DescribeRecordStatus",code="300000003"} 1"#))
        #expect(out.contains(#"cloudrec_api_throttled_total{vendor="zego",account="z",api="DescribeRecordStatus"} 1"#))
        #expect(out.contains(#"cloudrec_api_requests_total{vendor="zego",account="z",api="DescribeRecordStatus",outcome="throttled"} 1"#))
        #expect(out.hasSuffix("# EOF\n"))
    }

    static let prometheusAccept =
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

    @Test func negotiatesFormat() {
        #expect(ExpositionFormat.negotiate(accept: Self.prometheusAccept) == .openMetrics)
        #expect(ExpositionFormat.negotiate(accept: "*/*") == .prometheusText)
        #expect(ExpositionFormat.negotiate(accept: nil) == .prometheusText)
        #expect(ExpositionFormat.negotiate(accept: "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5") == .prometheusText)
        #expect(ExpositionFormat.negotiate(accept: "application/json") == .prometheusText)
        #expect(ExpositionFormat.openMetrics.contentType == "application/openmetrics-text; version=1.0.0; charset=utf-8")
        #expect(ExpositionFormat.prometheusText.contentType == "text/plain; version=0.0.4; charset=utf-8")
    }

    @Test func histogramBucketsAreCumulative() {
        let histogram = HistogramFamily(name: "h_seconds", help: "H.", labelNames: ["api"], buckets: [1, 0.25])
        for value in [0.25, 0.5, 0.5, 4] { histogram.observe(["q"], value) }
        histogram.touch(["r"])
        #expect(histogram.sampleCount(["q"]) == 4)
        #expect(histogram.sampleCount(["r"]) == 0)
        var out: [UInt8] = []
        histogram.writeSamples(into: &out, scrape: ScrapeInput(format: .prometheusText, snapshot: TaskSeriesStore().renderSnapshot()))
        #expect(text(out) == """
        h_seconds_bucket{api="q",le="0.25"} 1
        h_seconds_bucket{api="q",le="1"} 3
        h_seconds_bucket{api="q",le="+Inf"} 4
        h_seconds_sum{api="q"} 5.25
        h_seconds_count{api="q"} 4
        h_seconds_bucket{api="r",le="0.25"} 0
        h_seconds_bucket{api="r",le="1"} 0
        h_seconds_bucket{api="r",le="+Inf"} 0
        h_seconds_sum{api="r"} 0
        h_seconds_count{api="r"} 0

        """)
        #expect(text(histogram.family.header(.openMetrics)) == "# HELP h_seconds H.\n# TYPE h_seconds histogram\n")
    }

    @Test func counterRemoveAll() {
        let counter = CounterFamily(name: "c_total", help: "C.", labelNames: ["account"])
        counter.increment(["a"])
        counter.increment(["b"], by: 2)
        counter.removeAll { $0 == ["a"] }
        var out: [UInt8] = []
        counter.writeSamples(into: &out, scrape: ScrapeInput(format: .prometheusText, snapshot: TaskSeriesStore().renderSnapshot()))
        #expect(text(out) == "c_total{account=\"b\"} 2\n")
    }
}
