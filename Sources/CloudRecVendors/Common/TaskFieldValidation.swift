import CloudRecCore

/// A task's id and vendor fields checked against its vendor's `VendorSchema`: one rule for the config file, task
/// discovery files and the registration API.
public enum TaskFieldValidation {
    public struct Problem: Sendable, Hashable {
        public var key: String?
        public var message: String
    }

    public static func validate(id: String?, fields: [String: String], schema: VendorSchema)
        -> (id: String?, fields: [String: String], problems: [Problem]) {
        var problems: [Problem] = []
        if id == nil { problems.append(Problem(key: nil, message: "missing required key \"id\"")) }
        if let id, !ExternalText.isPrintable(id, lengths: 1...256) {
            problems.append(Problem(key: "id", message: "must be 1 to 256 printable characters"))
        }
        var accepted: [String: String] = [:]
        let allowed = schema.taskFields.map(\.name)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard let spec = schema.taskFields.first(where: { $0.name == key }) else {
                let list = (["account", "id"] + allowed).joined(separator: ", ")
                problems.append(Problem(key: key, message: "unknown key for vendor \(schema.vendor.rawValue) (allowed: \(list))"))
                continue
            }
            if let problem = spec.problem(with: value) { problems.append(Problem(key: key, message: problem)) } else { accepted[key] = value }
        }
        for spec in schema.taskFields where spec.required && fields[spec.name] == nil {
            problems.append(Problem(key: nil, message: "missing required key \"\(spec.name)\" for vendor \(schema.vendor.rawValue)"))
        }
        return (id, accepted, problems)
    }
}
