import CZlib

/// A piece of one gzip member's deflate stream, compressed on its own: it refers to nothing before it and ends on a
/// byte boundary (a sync flush, no final-block bit), so pieces compressed at different times can be joined into one
/// ordinary gzip stream. Its CRC-32 and length let the member's trailer be computed without the plain bytes
/// (`crc32_combine`).
///
/// Written against zlib directly: CompressNIO (used for whole bodies) offers neither raw segments nor
/// `crc32_combine`.
struct DeflateSegment: Sendable {
    let bytes: [UInt8]
    let crc: UInt32
    let length: Int

    static let empty = DeflateSegment(bytes: [], crc: 0, length: 0)
}

/// Compresses segments with one reused zlib stream (`deflateReset` between segments). Not thread-safe: its owner
/// (`GzipScrapeCache`) uses it under a lock.
final class SegmentDeflater {
    private var stream = z_stream()
    private let ready: Bool

    init(level: Int32 = 1) {
        ready = czlib_deflate_init_raw(&stream, level) == Z_OK
    }

    deinit {
        if ready { deflateEnd(&stream) }
    }

    /// The parts compressed as one segment; nil when zlib fails (the caller falls back to compressing the whole body).
    func segment(_ parts: [ArraySlice<UInt8>]) -> DeflateSegment? {
        guard ready else { return nil }
        let total = parts.reduce(0) { $0 + $1.count }
        guard total > 0 else { return .empty }
        guard deflateReset(&stream) == Z_OK else { return nil }
        // deflateBound covers a finished stream of `total` bytes; a sync flush adds at most a few bytes more.
        let capacity = Int(deflateBound(&stream, UInt(total))) + 64
        var crc = crc32(0, nil, 0)
        var failed = false
        var produced = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { output, initialized in
            stream.next_out = output.baseAddress
            stream.avail_out = UInt32(capacity)
            for part in parts where !part.isEmpty && !failed {
                part.withUnsafeBufferPointer { input in
                    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                    stream.avail_in = UInt32(input.count)
                    crc = crc32(crc, input.baseAddress, UInt32(input.count))
                    let result = deflate(&stream, Z_NO_FLUSH)
                    if result != Z_OK || stream.avail_in != 0 { failed = true }
                }
            }
            if !failed {
                let result = deflate(&stream, Z_SYNC_FLUSH)
                if result != Z_OK || stream.avail_out == 0 { failed = true }
            }
            produced = failed ? 0 : capacity - Int(stream.avail_out)
            stream.next_in = nil
            stream.next_out = nil
            initialized = produced
        }
        return failed ? nil : DeflateSegment(bytes: bytes, crc: UInt32(truncatingIfNeeded: crc), length: total)
    }
}

/// One gzip member (RFC 1952) from deflate segments: header, the segments in order, an empty final block, and the
/// trailer with the CRC-32 combined from the segments' and the length modulo 2^32.
enum GzipMember {
    /// No name, no modification time, OS "Unix".
    static let header: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]
    /// An empty fixed-Huffman block with the final bit set: what zlib writes when finishing after a sync flush.
    static let finalBlock: [UInt8] = [0x03, 0x00]

    static func assemble(_ segments: [DeflateSegment]) -> [UInt8] {
        var crc = crc32(0, nil, 0)
        var length = 0
        var size = header.count + finalBlock.count + 8
        for segment in segments where segment.length > 0 {
            crc = crc32_combine(crc, UInt(segment.crc), Int(segment.length))
            length += segment.length
            size += segment.bytes.count
        }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        out += header
        for segment in segments where segment.length > 0 { out += segment.bytes }
        out += finalBlock
        let crc32Value = UInt32(truncatingIfNeeded: crc)
        let isize = UInt32(truncatingIfNeeded: length)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: crc32Value >> UInt32(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: isize >> UInt32(shift))) }
        return out
    }
}
