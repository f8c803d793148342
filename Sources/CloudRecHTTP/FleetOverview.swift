import CloudRecCore


/// What the landing page shows of the fleet: the tasks that need a human, and each account's health.
public struct FleetOverview: Sendable {
    public struct AttentionTask: Sendable {
        public var vendor: Vendor
        public var account: String
        public var taskID: String
        public var status: TaskStatus
        public var reasons: [String]
        public var lastSuccess: Double?

        public init(vendor: Vendor, account: String, taskID: String, status: TaskStatus, reasons: [String], lastSuccess: Double?) {
            self.vendor = vendor
            self.account = account
            self.taskID = taskID
            self.status = status
            self.reasons = reasons
            self.lastSuccess = lastSuccess
        }
    }

    public struct Account: Sendable {
        public var vendor: Vendor
        public var name: String
        public var tasks: Int
        /// Since the process started (the fleet counters).
        public var completed: Double
        public var failed: Double
        public var filesFinished: Double
        public var filesFailed: Double
        public var health: AccountHealth

        public init(vendor: Vendor, name: String, tasks: Int, completed: Double, failed: Double, filesFinished: Double,
                    filesFailed: Double, health: AccountHealth) {
            self.vendor = vendor
            self.name = name
            self.tasks = tasks
            self.completed = completed
            self.failed = failed
            self.filesFinished = filesFinished
            self.filesFailed = filesFailed
            self.health = health
        }
    }

    /// At most `limit` of them (the page stays light), ordered by account and task id.
    public var attention: [AttentionTask]
    /// All tasks that need attention, shown or not.
    public var attentionTotal: Int
    public var accounts: [Account]
    public var now: Double

    public init(attention: [AttentionTask] = [], attentionTotal: Int = 0, accounts: [Account] = [], now: Double = 0) {
        self.attention = attention
        self.attentionTotal = attentionTotal
        self.accounts = accounts
        self.now = now
    }
}
