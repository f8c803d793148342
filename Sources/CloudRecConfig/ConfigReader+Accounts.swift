import CloudRecCore
import CloudRecVendors
import Foundation
import Yams

/// `accounts`: per-vendor keys, fields and credentials from the vendor's `VendorSchema`.
extension ConfigReader {
    static let commonAccountKeys = ["name", "vendor", "endpoint", "rate_limit", "poll_interval", "credentials", "tls_ca_file",
                                    "discover", "discover_interval"]

    mutating func readAccounts(_ node: Node, global: GlobalConfig) -> [AccountSpec] {
        guard case let .sequence(sequence) = node else {
            report(node, "accounts", "expected a list of accounts, got \(kind(node))")
            return []
        }
        var accounts: [AccountSpec] = []
        var names: [String: Int] = [:]
        for (index, item) in sequence.enumerated() {
            let path = "accounts[\(index)]"
            guard let account = readAccount(item, path: path, global: global) else {
                if case let .mapping(mapping) = item, let name = mapping["name"]?.scalar?.string { invalidAccountNames.insert(name) }
                continue
            }
            if let first = names[account.name] {
                report(item, "\(path).name", "duplicate account name \"\(account.name)\" (first used by accounts[\(first)])")
                continue
            }
            names[account.name] = index
            accounts.append(account)
        }
        return accounts
    }

    mutating func readAccount(_ node: Node, path: String, global: GlobalConfig) -> AccountSpec? {
        guard case .mapping = node else {
            report(node, path, "expected a mapping, got \(kind(node))")
            return nil
        }
        // The vendor decides which keys are allowed, so read it first.
        let pairs = entries(node, path, allowed: nil)
        guard let vendorEntry = pairs.first(where: { $0.key == "vendor" }) else {
            report(node, path, "missing required key \"vendor\" (one of \(Vendor.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        guard let vendorName = string(vendorEntry.value, "\(path).vendor") else { return nil }
        guard let vendor = Vendor(rawValue: vendorName) else {
            report(vendorEntry.value, "\(path).vendor",
                   "unknown vendor \"\(vendorName)\" (one of \(Vendor.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        let schema = VendorCatalog.schema(for: vendor)
        let allowed = Self.commonAccountKeys + schema.accountFields.map(\.name)
        var name: String?
        var endpoint: String?
        var rateLimit = schema.defaultRateLimit
        var pollInterval = global.pollInterval
        var fields: [String: String] = [:]
        var credentials: [String: Secret] = [:]
        var tlsCAFile: String?
        var discover = false
        var discoverInterval = 60.0
        var credentialsSeen = false
        let problemsBefore = problems.count
        for entry in pairs {
            let keyPath = "\(path).\(entry.key)"
            guard allowed.contains(entry.key) else {
                report(entry.keyNode, keyPath, "unknown key for vendor \(vendor.rawValue) (allowed: \(allowed.joined(separator: ", ")))")
                continue
            }
            switch entry.key {
            case "vendor": break
            case "name":
                name = string(entry.value, keyPath)
                if let n = name, !Self.isValidName(n) {
                    report(entry.value, keyPath, "account names may use letters, digits, '-', '_' and '.' only (at most 128)")
                    name = nil
                }
            case "endpoint":
                if let url = string(entry.value, keyPath) {
                    if url.hasPrefix("http://") || url.hasPrefix("https://"), URL(string: url)?.host != nil {
                        endpoint = url
                    } else {
                        report(entry.value, keyPath, "must be an http:// or https:// URL, got \"\(url)\"")
                    }
                }
            case "rate_limit":
                if let v = number(entry.value, keyPath, in: ConfigRanges.rateLimit) { rateLimit = v }
            case "poll_interval": if let v = duration(entry.value, keyPath, in: ConfigRanges.pollInterval) { pollInterval = v }
            case "tls_ca_file":
                if let path = string(entry.value, keyPath) {
                    if let problem = caFileProblem(path) { report(entry.value, keyPath, problem) } else { tlsCAFile = path }
                }
            case "discover":
                if let value = bool(entry.value, keyPath) {
                    if value, schema.makeLister == nil {
                        report(entry.value, keyPath, "vendor \(vendor.rawValue) has no task list API to discover tasks with")
                    } else {
                        discover = value
                    }
                }
            case "discover_interval":
                if let v = duration(entry.value, keyPath, in: ConfigRanges.discoverInterval) { discoverInterval = v }
            case "credentials":
                credentialsSeen = true
                credentials = readCredentials(entry.value, path: keyPath, names: schema.credentialFields,
                                              optional: schema.optionalCredentialFields, vendor: vendor)
            default:
                guard let spec = schema.accountFields.first(where: { $0.name == entry.key }),
                      let value = string(entry.value, keyPath) else { continue }
                if let problem = spec.problem(with: value) { report(entry.value, keyPath, problem) } else { fields[entry.key] = value }
            }
        }
        if pairs.first(where: { $0.key == "name" }) == nil { report(node, path, "missing required key \"name\"") }
        for spec in schema.accountFields where spec.required && pairs.first(where: { $0.key == spec.name }) == nil {
            report(node, path, "missing required key \"\(spec.name)\" for vendor \(vendor.rawValue)")
        }
        if !credentialsSeen, !schema.credentialFields.isEmpty {
            report(node, path, "missing required key \"credentials\" (\(schema.credentialFields.joined(separator: ", ")))")
        }
        guard let name, problems.count == problemsBefore else { return nil }
        var account = AccountSpec(name: name, vendor: vendor, endpoint: endpoint ?? schema.defaultEndpoint(fields), rateLimit: rateLimit,
                                  pollInterval: pollInterval, fields: fields, credentials: credentials, tlsCAFile: tlsCAFile)
        account.discover = discover
        account.discoverInterval = discoverInterval
        return account
    }

    /// The CA file must be readable and hold at least one PEM certificate (the TLS library parses it when the
    /// account's poller starts; this catches the usual mistakes at load time, with the file and key named).
    func caFileProblem(_ path: String) -> String? {
        let content: String
        do {
            content = try readFile(path)
        } catch {
            return "cannot read CA file \(path): \(ConfigLoader.describe(error))"
        }
        return content.contains("-----BEGIN CERTIFICATE-----") ? nil : "CA file \(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    }

    static func isValidName(_ name: String) -> Bool { ExternalText.isAccountName(name) }
}
