import CloudRecSimulatorServer
import Foundation

/// A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with openssl in a directory at run time
/// (no key material is committed). Simulators serve HTTPS with `tls`, as the real vendors do; the exporter trusts
/// `caFile` through `tls_ca_file`. Used by the integration tests and the benchmarks.
public struct ThrowawayCA: Sendable {
    public enum KeyType: Sendable {
        case rsa2048
        case p256

        var options: [String] {
            switch self {
            case .rsa2048: return ["-newkey", "rsa:2048"]
            case .p256: return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
            }
        }
    }

    public let directory: String
    public var caFile: String { directory + "/ca.pem" }
    public var serverCertificateFile: String { directory + "/server.pem" }
    public var serverKeyFile: String { directory + "/server.key" }
    public var tls: SimulatorTLS { SimulatorTLS(certificateChainFile: serverCertificateFile, privateKeyFile: serverKeyFile) }

    /// Creates `directory` if needed and writes `ca.pem`, `server.pem` and `server.key` (plus the CA key and CSR).
    public static func make(in directory: String, keyType: KeyType = .p256, days: Int = 1, name: String = "cloudrec test CA") throws -> ThrowawayCA {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ca = ThrowawayCA(directory: directory)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            .write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509"] + keyType.options + ["-nodes", "-keyout", directory + "/ca.key", "-out", ca.caFile, "-days", "\(days)",
             "-subj", "/CN=\(name)", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
            ["req"] + keyType.options + ["-nodes", "-keyout", ca.serverKeyFile, "-out", directory + "/server.csr", "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", directory + "/server.csr", "-CA", ca.caFile, "-CAkey", directory + "/ca.key", "-CAcreateserial",
             "-out", ca.serverCertificateFile, "-days", "\(days)", "-extfile", directory + "/server.ext"],
        ]
        for arguments in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ThrowawayCAError(description: "openssl \(arguments.prefix(2).joined(separator: " ")) failed (exit \(process.terminationStatus))")
            }
        }
        return ca
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

public struct ThrowawayCAError: Error, CustomStringConvertible {
    public var description: String
}
