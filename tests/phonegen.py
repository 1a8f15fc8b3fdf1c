"""Small files shaped like phone and camera footage, written with PyAV (and a few bytes by hand).

What they imitate, from how the devices write their files:

- a Pixel motion photo: a large one-frame still beside the (smaller, longer) video, both marked default;
- an iPhone clip named .mp4 that is really QuickTime (major brand 'qt  '): HEVC Main 10 HLG, QuickTime
  metadata keys ('mdta': com.apple.quicktime.*), a timed-metadata track ('mebx', a data track whose
  codec FFmpeg does not know), optionally a Dolby Vision configuration box ('dvvC') in its sample entry;
- an Android clip (brand 'isom'): com.android.* keys and a 'mett' timed-metadata track;
- a GoPro clip: an explicit 1:1 pixel aspect ratio, a 'firmware' tag and a 'gpmd' telemetry track;
- a Samsung clip: an SEF-like trailer after the MP4 boxes ('sefd' data ... 'SEFH' index ... 'SEFT').

PyAV cannot make a data track of an unknown codec, so one is written as GoPro's 'gpmd' (which it can) and
its sample-entry type is then renamed in the bytes ('mebx', 'mett'): FFmpeg reads that back as the phones'.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av

from tests.clipgen import BT2100_HLG, make_clip, moving_pattern

APPLE_KEYS = {
    "com.apple.quicktime.location.ISO6709": "+48.8583+002.2945+035.000/",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15 Pro",
    "com.apple.quicktime.software": "17.4.1",
    "com.apple.quicktime.creationdate": "2024-05-01T12:00:00+0200",
    "creation_time": "2024-05-01T10:00:00.000000Z",
}
ANDROID_KEYS = {"com.android.version": "14", "com.android.capture.fps": "30.000000",
                "creation_time": "2024-06-02T08:30:00.000000Z"}
GOPRO_KEYS = {"firmware": "H23.01.01.10.00", "creation_time": "2024-07-03T09:00:00.000000Z"}
META_PAYLOADS = [b"meta-%d" % i for i in range(6)]


def two_video_streams(path: Path, frames: int = 10) -> Path:
    """A motion photo: stream 0 a 96x64 one-frame still, stream 1 a 64x48 video of ``frames``; both default."""
    with av.open(str(path), "w", format="mp4") as out:
        still = out.add_stream("libx264", rate=25)
        still.width, still.height, still.pix_fmt = 96, 64, "yuv420p"
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for stream in (still, video):
            stream.options = {"preset": "ultrafast"}
            stream.disposition = av.stream.Disposition.default
        picture = av.VideoFrame.from_ndarray(moving_pattern(0, 96, 64), format="rgb24").reformat(format="yuv420p")
        picture.pts = 0
        out.mux(still.encode(picture))
        out.mux(still.encode(None))
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(moving_pattern(i, 64, 48), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def with_data_track(path: Path, *, codec: str = "libx264", pix_fmt: str = "yuv420p", colour=None,
                    keys: dict[str, str] | None = None, sar: Fraction | None = None, frames: int = 6,
                    **clip) -> Path:
    """An MP4 clip with a 'gpmd' data track (one packet per frame) and container ``keys`` (metadata keys)."""
    staged = make_clip(path.with_name(f"staged-{path.stem}.mp4"), frames=frames, codec=codec, pix_fmt=pix_fmt,
                       colour=colour, sar=sar, audio=["aac"], **clip)
    with av.open(str(staged)) as src, av.open(str(path), "w", format="mp4",
                                             options={"movflags": "use_metadata_tags"}) as out:
        out.metadata.update(keys or {})
        copies = [out.add_stream_from_template(s) for s in src.streams]
        data = out.add_data_stream("bin_data")
        data.metadata["handler_name"] = "Timed Metadata"
        sent = 0
        for packet in src.demux():
            if packet.size:
                if packet.stream.type == "video" and sent < len(META_PAYLOADS):
                    meta = av.Packet(META_PAYLOADS[sent])
                    meta.pts = meta.dts = sent * 40
                    meta.time_base, meta.stream = Fraction(1, 1000), data
                    out.mux(meta)
                    sent += 1
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
    staged.unlink()
    return path


def rename_sample_entry(path: Path, old: bytes, new: bytes) -> Path:
    """Rename a track's sample-entry type in place (e.g. 'gpmd' -> 'mebx': a codec FFmpeg does not know)."""
    data = path.read_bytes()
    assert data.count(old) >= 1
    path.write_bytes(data.replace(old, new))
    return path


def remux(src: Path, dst: Path, muxer: str, keys: dict[str, str]) -> Path:
    """Copy every stream of ``src`` into ``dst`` with ``muxer`` ('mov' under a .mp4 name: brand 'qt  ')."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=muxer,
                                           options={"movflags": "use_metadata_tags"}) as out:
        out.metadata.update(keys)
        copies = [out.add_stream_from_template(s) for s in inp.streams]
        for s, c in zip(inp.streams, copies):
            c.disposition = s.disposition
            if s.type == "video" and s.codec_context.name == "hevc":
                c.codec_context.codec_tag = "hvc1"  # as Apple writes it
        for packet in inp.demux():
            if packet.size:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
    return dst


def iphone_clip(folder: Path, name: str = "IMG_0001.mp4", **clip) -> Path:
    """HEVC Main 10 HLG in a QuickTime file named .mp4, Apple's keys and an 'mebx' metadata track."""
    staged = with_data_track(folder / "iphone-staged.mp4", codec="libx265", pix_fmt="yuv420p10le",
                             colour=BT2100_HLG, **clip)
    rename_sample_entry(staged, b"gpmd", b"mebx")
    return remux(staged, folder / name, "mov", APPLE_KEYS)


def android_clip(folder: Path, name: str = "PXL_0001.mp4") -> Path:
    """8-bit HEVC in an MP4 (brand 'isom') with Android's keys and a 'mett' metadata track."""
    path = with_data_track(folder / name, codec="libx265", keys=ANDROID_KEYS)
    return rename_sample_entry(path, b"gpmd", b"mett")


def gopro_clip(folder: Path, name: str = "GX010001.MP4") -> Path:
    """H.264 with an explicit 1:1 pixel aspect ratio, the 'firmware' tag and a 'gpmd' telemetry track."""
    return with_data_track(folder / name, keys=GOPRO_KEYS, sar=Fraction(1, 1))


def sef_trailer(entries: int = 2) -> bytes:
    """A Samsung-style SEF block: data entries, then the 'SEFH' index (offsets back from it), then size + 'SEFT'."""
    index, offset = [], 0
    blocks = [b"\x00\x00\x30\x0a\x10\x00\x00\x00Slow_Motion_Data" + b"0 1000 2000 %d" % k for k in range(entries)]
    total = sum(len(b) for b in blocks)
    for k, payload in enumerate(blocks):
        index.append(struct.pack("<HHII", 0, 0x0890 + k, total - offset, len(payload)))
        offset += len(payload)
    header = b"SEFH" + struct.pack("<II", 106, len(blocks)) + b"".join(index)
    return b"".join(blocks) + header + struct.pack("<I", len(header)) + b"SEFT"


def samsung_clip(folder: Path, name: str = "20240801_120000.mp4", trailer: bytes | None = None, **clip) -> Path:
    """An ordinary MP4 with an SEF trailer appended after its boxes."""
    path = make_clip(folder / name, **clip)
    with open(path, "ab") as f:
        f.write(sef_trailer() if trailer is None else trailer)
    return path


def add_sample_entry_box(path: Path, kind: bytes, payload: bytes) -> Path:
    """Append a box to the 'hvc1' sample entry (e.g. Dolby Vision's 'dvvC', HDR10's 'mdcv') and fix the box sizes.

    FFmpeg writes the moov last, so growing it moves no sample data (the chunk offsets stay right).
    """
    data = bytearray(path.read_bytes())
    chain = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"]
    ancestors, start, end = [], 0, len(data)
    for name in chain:
        at = start
        while at < end:
            size, found = struct.unpack_from(">I4s", data, at)
            if found == name and (name != b"trak" or b"hvc1" in data[at:at + size]):
                break
            at += size
        assert at < end, f"no {name} box"
        ancestors.append(at)
        start, end = at + (16 if name == b"stsd" else 8), at + struct.unpack_from(">I", data, at)[0]
    entry = start
    assert data[entry + 4:entry + 8] == b"hvc1"
    entry_end = entry + struct.unpack_from(">I", data, entry)[0]
    box = struct.pack(">I4s", 8 + len(payload), kind) + payload
    data[entry_end:entry_end] = box
    for at in ancestors + [entry]:
        struct.pack_into(">I", data, at, struct.unpack_from(">I", data, at)[0] + len(box))
    path.write_bytes(bytes(data))
    return path


def add_dolby_vision_box(path: Path) -> Path:
    """A Dolby Vision configuration ('dvvC': version 1.0, profile 8, level 1, RPU + base layer, HLG-compatible)."""
    return add_sample_entry_box(path, b"dvvC", bytes([1, 0, 8 << 1, (1 << 3) | 0b101, 4 << 4]) + bytes(19))


def add_hdr10_boxes(path: Path) -> Path:
    """HDR10 static metadata as MP4 boxes only ('mdcv' mastering display, 'clli' light level), no SEI:
    BT.2020 primaries (G, B, R in 1/50000), D65, 1000 / 0.005 cd/m2 (in 1/10000), MaxCLL 1000, MaxFALL 400."""
    mdcv = struct.pack(">8H2I", 13250, 34500, 7500, 3000, 34000, 16000, 15635, 16450, 10000000, 50)
    add_sample_entry_box(path, b"mdcv", mdcv)
    return add_sample_entry_box(path, b"clli", struct.pack(">2H", 1000, 400))
