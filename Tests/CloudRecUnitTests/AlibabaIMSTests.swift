import CloudRecCore
@testable import CloudRecSimulators
@testable import CloudRecVendors
import Foundation
import Testing

@Suite struct AlibabaIMSTests {
    static func interpret(_ body: String, status: Int = 200) -> PollResult {
        AlibabaIMSResponseDecoder.interpret(InboundResponse(status: status, body: Array(body.utf8)))
    }

    @Test func schema() {
        let schema = AlibabaIMSClient.schema
        #expect(schema.vendor == .alibabaIMS)
        #expect(AlibabaIMSClient.operation.action == "GetLiveRecordJob")
        #expect(schema.defaultRateLimit == 10)
        #expect(schema.defaultEndpoint(["region": "cn-beijing"]) == "https://ice.cn-beijing.aliyuncs.com")
    }

    @Test func requestIsAGetWithTheJobIdInTheQuery() throws {
        let harness = AlibabaHarness(.alibabaIMS)
        let request = try harness.request("ab0e3e76-1e9d-11ed-ba64-0c42a1b73d66")
        #expect(request.method == "GET")
        #expect(request.url == "https://ice.cn-shanghai.aliyuncs.com/?JobId=ab0e3e76-1e9d-11ed-ba64-0c42a1b73d66")
        #expect(request.body.isEmpty)
        #expect(request.header("x-acs-action") == "GetLiveRecordJob")
        #expect(request.header("x-acs-version") == "2020-11-09")
        #expect(request.header("host") == "ice.cn-shanghai.aliyuncs.com")
        let v1 = try AlibabaHarness(.alibabaIMS, signature: .rpcV1).request("j1")
        #expect(v1.method == "GET")
        #expect(v1.url.contains("Action=GetLiveRecordJob") && v1.url.contains("&JobId=j1&"))
    }

    @Test func seedExampleDecodes() throws {
        let result = Self.interpret(AlibabaIMSSimulator.seedExampleBody)
        let observation = try #require(result.observation)
        #expect(result.outcome == .success)
        #expect(observation.vendorStatus == "paused")
        #expect(observation.status == .paused)
        #expect(observation.files.isEmpty)
        #expect(!observation.reportsUploadStates)
        #expect(observation.startTime == 1_658_285_338) // 2022-07-20T02:48:58Z
    }

    @Test func createTimeWithoutSeconds() {
        #expect(AlibabaIMSResponseDecoder.parseCreateTime("2022-07-20T02:48Z") == 1_658_285_280)
        #expect(AlibabaIMSResponseDecoder.parseCreateTime("yesterday") == nil)
    }

    @Test(arguments: [("initial", TaskStatus.initializing), ("started", .running), ("paused", .paused),
                      ("stopped", .unknown), ("STARTED", .unknown)])
    func statusMapping(_ row: (vendor: String, common: TaskStatus)) {
        #expect(AlibabaIMSStatusMapping.taskStatus(row.vendor) == row.common)
    }

    @Test func undocumentedStatusKeepsTheRawValue() throws {
        let observation = try #require(Self.interpret(#"{"RecordJob":{"JobId":"j","Status":"finished"},"RequestId":"r"}"#).observation)
        #expect(observation.status == .unknown)
        #expect(observation.vendorStatus == "finished")
    }

    @Test func missingOptionalFieldsAreFine() throws {
        let result = Self.interpret(#"{"RecordJob":{"Status":"started"}}"#)
        #expect(result.outcome == .success)
        #expect(result.observation?.status == .running)
        #expect(result.observation?.startTime == nil)
        #expect(Self.interpret(#"{"RecordJob":{"Status":"started","CreateTime":"not a time"}}"#).observation?.startTime == nil)
        #expect(Self.interpret(#"{"RecordJob":{"JobId":"j"},"RequestId":"r"}"#).outcome == .decodeError)
    }

    /// Every lifecycle phase, through the simulator and back, for both signature versions. IMS has no stopping or
    /// terminal state: `stopping` still reads `started`, an ended job is gone (not_found).
    @Test(arguments: AlibabaSignatureVersion.allCases)
    func lifecycleRoundTrip(signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(.alibabaIMS, signature: signature)
        harness.book.start(id: "job-1", phase: .starting)
        let expectations: [(SimPhase, String, TaskStatus)] = [
            (.starting, "initial", .initializing), (.recording, "started", .running), (.paused, "paused", .paused),
            (.recording, "started", .running), (.stopping, "started", .running),
        ]
        for (phase, vendorStatus, status) in expectations {
            harness.book.setPhase("job-1", phase)
            let result = try harness.poll("job-1")
            #expect(result.outcome == .success, "\(phase)")
            #expect(result.observation?.vendorStatus == vendorStatus, "\(phase)")
            #expect(result.observation?.status == status, "\(phase)")
            #expect(result.observation?.startTime == harness.book.task("job-1")?.startTime.rounded(.down))
        }
        for phase in [SimPhase.ended, .exitedAbnormally] {
            harness.book.setPhase("job-1", phase)
            let (response, result) = harness.send(try harness.request("job-1"), for: "job-1")
            #expect(response.status == 404)
            #expect(result.outcome == .notFound, "\(phase)")
            #expect(result.vendorCode == "JobNotFound")
        }
    }

    /// Both not-found codes read as not found: the documented sibling-API `JobNotFound` (the simulator's default) and
    /// the `NotFound.Job` it used before.
    @Test(arguments: ["JobNotFound", "NotFound.Job"])
    func bothJobNotFoundCodesAreNotFound(code: String) throws {
        let harness = AlibabaHarness(.alibabaIMS, imsJobNotFound: AlibabaSimError(status: 404, code: code, message: "gone"))
        let (response, result) = harness.send(try harness.request("gone"), for: "gone")
        #expect(response.status == 404)
        #expect(result.outcome == .notFound)
        #expect(result.vendorCode == code)
        #expect(!result.taskGone)
    }

    @Test(arguments: AlibabaSignatureVersion.allCases)
    func unknownJobIsNotFound(signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(.alibabaIMS, signature: signature)
        let result = try harness.poll("never-existed")
        #expect(result.outcome == .notFound)
        #expect(harness.simulator.stats.count(.notFound) == 1)
    }

    /// The real code for an unknown job is unconfirmed; with an InvalidParameter-style one the task is not ended.
    @Test func configurableNotFoundCode() throws {
        let harness = AlibabaHarness(.alibabaIMS, imsJobNotFound: AlibabaSimError(
            status: 400, code: "InvalidParameter.JobId", message: "The specified JobId is invalid."))
        let (response, result) = harness.send(try harness.request("gone"), for: "gone")
        #expect(response.status == 400)
        #expect(result.outcome == .clientError)
        #expect(result.vendorCode == "InvalidParameter.JobId")
    }

    @Test func simulatorRendersTheSeedShape() throws {
        let harness = AlibabaHarness(.alibabaIMS)
        harness.book.start(id: "job-1", phase: .paused)
        let body = try JSONValue.parse(harness.send(try harness.request("job-1"), for: "job-1").response.body)
        let seed = try JSONValue.parse(Array(AlibabaIMSSimulator.seedExampleBody.utf8))
        guard case let .object(rendered) = try #require(body["RecordJob"]), case let .object(example) = try #require(seed["RecordJob"]) else {
            Issue.record("RecordJob is not an object")
            return
        }
        #expect(Set(rendered.map(\.0)) == Set(example.map(\.0)))
        #expect(body["RequestId"]?.stringValue?.isEmpty == false)
    }

    // MARK: ListLiveRecordJobs

    static func listAccount() -> AccountSpec {
        AccountSpec(name: "ali", vendor: .alibabaIMS, endpoint: "https://ice.cn-shanghai.aliyuncs.com", rateLimit: 10, pollInterval: 10,
                    fields: ["region": "cn-shanghai"],
                    credentials: [AlibabaAccountSchema.accessKeyIDField: Secret(AlibabaHarness.accessKeyID),
                                  AlibabaAccountSchema.accessKeySecretField: Secret(AlibabaHarness.accessKeySecret)])
    }

    /// The lister asks for the documented default page size (10), which the simulator serves; it follows the pages.
    @Test func listerUsesTheDocumentedPageSizeAndFollowsPages() throws {
        let harness = AlibabaHarness(.alibabaIMS, qps: 1000)
        for index in 0..<25 { harness.book.start(id: "job-\(index)") }
        let lister = AlibabaIMSLister(account: Self.listAccount())
        // A minute ahead: the window is sent with whole seconds, and the jobs were created within this second.
        let query = try #require(lister.queries(now: Date().addingTimeInterval(60), since: Date()).first)
        var page: Int? = 1
        var found: [String] = []
        var calls = 0
        while let current = page {
            let request = try lister.listRequest(query, page: current, context: RequestContext())
            #expect(request.url.contains("PageSize=10"))
            let response = harness.simulator.respond(to: SimRequest(request))
            let listed = lister.interpretList(response.inbound, query: query, page: current)
            #expect(listed.result.outcome == .success, "\(listed.result.vendorCode ?? "") \(listed.result.message ?? "")")
            found += listed.tasks.map(\.id)
            page = listed.nextPage
            calls += 1
        }
        #expect(calls == 3)
        #expect(Set(found) == Set((0..<25).map { "job-\($0)" }))
    }

    /// The simulator refuses page sizes the docs do not promise (no documented maximum; the sibling allows 5–30),
    /// and serves a list without StartTime/EndTime (both optional in the SDK model).
    @Test func simulatorRefusesUndocumentedPageSizesAndAcceptsNoTimeRange() throws {
        let harness = AlibabaHarness(.alibabaIMS, qps: 1000)
        harness.book.start(id: "job-1")
        let ims = try #require(harness.simulator as? AlibabaIMSSimulator)
        let lister = AlibabaIMSLister(account: Self.listAccount())
        let query = ListQuery(status: nil, start: Date().addingTimeInterval(-3600), end: Date())
        for (size, accepted) in [("100", false), ("11", false), ("4", false), ("5", true), ("10", true)] {
            let call = AlibabaSimCall(parameters: ["PageSize": size], now: Date().timeIntervalSince1970, action: "ListLiveRecordJobs")
            let response = ims.listLiveRecordJobs(call)
            #expect((response.status == 200) == accepted, "PageSize \(size)")
            if !accepted {
                let page = lister.interpretList(response.inbound, query: query, page: 1)
                #expect(page.result.outcome == .clientError)
                #expect(page.result.vendorCode == "InvalidParameter.PageSize")
            }
        }
        let untimed = AlibabaSimCall(parameters: [:], now: Date().timeIntervalSince1970, action: "ListLiveRecordJobs")
        let page = lister.interpretList(ims.listLiveRecordJobs(untimed).inbound, query: query, page: 1)
        #expect(page.tasks.map(\.id) == ["job-1"])
        let tooLong = AlibabaSimCall(parameters: ["StartTime": "2025-01-01T00:00:00Z", "EndTime": "2025-03-01T00:00:00Z"],
                                     now: Date().timeIntervalSince1970, action: "ListLiveRecordJobs")
        #expect(ims.listLiveRecordJobs(tooLong).status == 400)
    }
}
