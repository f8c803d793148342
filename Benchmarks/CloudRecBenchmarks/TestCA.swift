import Foundation

/// A throwaway CA and a server certificate for 127.0.0.1, made with openssl in a temporary directory at run time
/// (nothing is committed). The simulators serve HTTPS with it; the exporter trusts it through `tls_ca_file`.
struct TestCA {
    let directory: String
    var caFile: String { directory + "/ca.pem" }
    var serverCertificateFile: String { directory + "/server.pem" }
    var serverKeyFile: String { directory + "/server.key" }

    static func make(in directory: String) throws -> TestCA {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ca = TestCA(directory: directory)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            .write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/ca.key", "-out", ca.caFile, "-days", "2",
             "-subj", "/CN=cloudrec benchmark test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", ca.serverKeyFile, "-out", directory + "/server.csr", "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", directory + "/server.csr", "-CA", ca.caFile, "-CAkey", directory + "/ca.key", "-CAcreateserial",
             "-out", ca.serverCertificateFile, "-days", "2", "-extfile", directory + "/server.ext"],
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
                throw BenchError("openssl \(arguments.prefix(2).joined(separator: " ")) failed (exit \(process.terminationStatus))")
            }
        }
        return ca
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
