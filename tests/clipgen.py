"""Small synthetic test clips, written with PyAV.

Tests need clips with exactly known properties (timestamps, colour tags, audio
packets, rotation, bit depth) rather than whatever a sample file happens to
contain, so every property the pipeline must preserve is a parameter here.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import av
import numpy as np

from deblur_cli.io.colour import ColourInfo

FORMAT_FOR_SUFFIX = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm", ".avi": "avi",
                     ".ts": "mpegts"}
KLV_KEY = bytes([6, 14, 43, 52, 2, 11, 1, 1, 14, 1, 3, 1, 1, 0, 0, 0])  # a SMPTE 336M universal key

BT601_LIMITED = ColourInfo(primaries=6, trc=6, matrix=6, range=1)  # SMPTE 170M
BT709_LIMITED = ColourInfo(primaries=1, trc=1, matrix=1, range=1)
BT709_FULL = ColourInfo(primaries=1, trc=1, matrix=1, range=2)
BT2020_LIMITED = ColourInfo(primaries=9, trc=14, matrix=9, range=1)  # BT.2020 primaries, 10-bit transfer, NCL
BT2100_PQ = ColourInfo(primaries=9, trc=16, matrix=9, range=1)  # SMPTE ST 2084
BT2100_HLG = ColourInfo(primaries=9, trc=18, matrix=9, range=1)  # ARIB STD-B67


def moving_pattern(index: int, width: int, height: int, peak: int = 255) -> np.ndarray:
    """An RGB frame with a gradient and a square that moves with ``index`` (so frames differ)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * peak // max(width - 1, 1), y * peak // max(height - 1, 1),
                    np.full_like(x, peak // 3)], axis=-1)
    s = max(min(width, height) // 4, 2)
    x0 = (index * 3) % max(width - s, 1)
    rgb[s:2 * s, x0:x0 + s] = peak
    return rgb.astype(np.uint16 if peak > 255 else np.uint8)


def flat_yuv_frame(width: int, height: int, yuv: tuple[int, int, int], pix_fmt: str) -> av.VideoFrame:
    """A frame whose Y, U and V planes hold the given constant codes (exact, no conversion)."""
    frame = av.VideoFrame(width, height, pix_fmt)
    dtype = np.uint16 if "10" in pix_fmt else np.uint8
    for plane, value in zip(frame.planes, yuv):
        itemsize = np.dtype(dtype).itemsize
        row = plane.line_size // itemsize
        plane.update(np.full((plane.height, row), value, dtype=dtype).tobytes())
    return frame


def make_clip(
    path: Path | str,
    *,
    size: tuple[int, int] = (64, 48),
    frames: int = 10,
    fps: int | Fraction = 25,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    colour: ColourInfo | None = None,
    flat_yuv: tuple[int, int, int] | None = None,
    content: Callable[[int, int, int], np.ndarray] | None = None,
    audio: Sequence[str] = (),
    audio_seconds: float | None = None,
    subtitles: Sequence[tuple[float, float, str]] = (),
    rotation: int = 0,
    cover_art: bool | str = False,
    klv: bool = False,
    chapters: Sequence[tuple[float, float, str]] = (),
    sar: Fraction | None = None,
    timecode: str | None = None,
    video_start: float = 0.0,
    lossless: bool = False,
    bframes: int | None = None,
    params: str = "",
) -> Path:
    """Write a clip and return its path; the container follows the suffix.

    ``pts`` gives explicit frame timestamps in ``time_base`` units (variable frame
    rate); otherwise frames are ``1/fps`` apart. ``flat_yuv`` fills every frame with
    those exact Y/U/V codes. ``audio`` names one encoder per audio stream ("aac",
    "libopus"). ``subtitles`` are (start s, end s, text) cues muxed as SubRip (mkv only).
    ``cover_art`` adds a 96x96 cover picture (True or "png"; "mjpeg" for a JPEG): a
    file attachment in mkv, an attached-picture stream in mp4/mov. ``klv`` adds a data
    stream with one KLV metadata packet per frame (MPEG-TS only). ``bframes`` sets
    x264/x265's B-frame count (the ultrafast preset otherwise uses none); ``params`` are
    extra x264/x265 parameters ("key=value:key=value"), e.g. HDR mastering-display metadata.
    ``chapters`` are (start s, end s, title). ``sar`` is the pixel aspect ratio (anamorphic
    video). ``timecode`` ("HH:MM:SS:FF") becomes a tmcd track in mov/mp4 and a tag in mkv.
    ``video_start`` moves every frame that many seconds later while the audio still starts
    at 0 (a video that begins after its sound).
    """
    path = Path(path)
    width, height = size
    fps = Fraction(fps)
    if time_base is None:
        time_base = Fraction(1, 1000) if pts is not None else 1 / fps
    if pts is None:
        pts = [round(i / fps / time_base) for i in range(frames)]
    pts = [p + round(Fraction(video_start) / time_base) for p in pts]
    frames = len(pts)
    colour = colour or ColourInfo()
    ten_bit = "10" in pix_fmt
    peak = 1023 if ten_bit else 255
    with av.open(str(path), "w", format=FORMAT_FOR_SUFFIX[path.suffix]) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        cc = video.codec_context
        if sar is not None:
            cc.sample_aspect_ratio = sar
        if timecode is not None:
            video.metadata["timecode"] = timecode
        if chapters:
            out.set_chapters([{"id": k + 1, "start": round(a * 1000), "end": round(b * 1000),
                               "time_base": Fraction(1, 1000), "metadata": {"title": title}}
                              for k, (a, b, title) in enumerate(chapters)])
        cc.color_primaries, cc.color_trc = colour.primaries, colour.trc
        cc.colorspace, cc.color_range = colour.matrix, colour.range
        if codec in ("libx264", "libx265"):
            video.options = {"qp": "0"} if lossless else {"crf": "12", "preset": "ultrafast"}
            extra = [p for p in ("log-level=error" if codec == "libx265" else "", params) if p]
            if extra:
                video.options[f"{codec[3:]}-params"] = ":".join(extra)
            if bframes is not None:
                cc.max_b_frames = bframes
        if rotation:
            video.set_display_rotation(rotation)
        audio_streams = []
        for name in audio:
            stream = out.add_stream(name, rate=48000)
            stream.layout = "stereo"
            audio_streams.append(stream)
        data_stream = out.add_data_stream("klv") if klv else None
        if cover_art:
            _add_cover_art(out, "png" if cover_art is True else cover_art)
        subtitle_stream = None
        if subtitles:
            subtitle_stream = out.add_mux_stream("subrip")
            subtitle_stream.time_base = Fraction(1, 1000)
        for i, t in enumerate(pts):
            if flat_yuv is not None:
                frame = flat_yuv_frame(width, height, flat_yuv, pix_fmt)
            else:
                rgb = (content or (lambda k, w, h: moving_pattern(k, w, h, peak)))(i, width, height)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if ten_bit else "rgb24")
                frame = frame.reformat(format=pix_fmt, dst_colorspace=colour.sws_matrix,
                                       src_color_range=2, dst_color_range=colour.yuv_range)
            frame.colorspace, frame.color_range = colour.matrix, colour.range
            frame.color_primaries, frame.color_trc = colour.primaries, colour.trc
            frame.pts, frame.time_base = t, time_base
            out.mux(video.encode(frame))
            if data_stream is not None:
                packet = av.Packet(KLV_KEY + bytes([4, i, 1, 2, 3]))
                packet.pts = packet.dts = round(t * time_base * 90000)
                packet.time_base, packet.stream = Fraction(1, 90000), data_stream
                out.mux(packet)
        out.mux(video.encode(None))
        seconds = audio_seconds if audio_seconds is not None else float((pts[-1] + 1) * time_base)
        for k, stream in enumerate(audio_streams):
            _write_tone(out, stream, seconds, 220.0 * (k + 1))
        for start, end, text in subtitles:
            packet = av.Packet(text.encode())
            packet.pts = packet.dts = round(start * 1000)
            packet.duration = round((end - start) * 1000)
            packet.time_base = Fraction(1, 1000)
            packet.stream = subtitle_stream
            out.mux(packet)
    return path


def _write_tone(out, stream, seconds: float, hz: float) -> None:
    rate, chunk = 48000, 960
    total = int(seconds * rate)
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float32)
        tone = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        planar = np.stack([tone, tone])
        fmt = stream.codec_context.format.name
        if fmt.startswith("s16"):
            planar = (planar * 32767).astype(np.int16)
        if not fmt.endswith("p"):  # interleaved sample format
            planar = planar.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(planar, format=fmt, layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def cover_picture(codec: str = "png", size: int = 96) -> bytes:
    """A flat grey still image as PNG or JPEG ("mjpeg") file bytes."""
    pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
    data = io.BytesIO()
    with av.open(data, "w", format="image2pipe") as img:
        s = img.add_stream(codec)
        s.width, s.height, s.pix_fmt = size, size, pix_fmt
        picture = av.VideoFrame.from_ndarray(np.full((size, size, 3), 200, np.uint8), format="rgb24")
        img.mux(s.encode(picture.reformat(format=pix_fmt)))
        img.mux(s.encode(None))
    return data.getvalue()


def _add_cover_art(out, codec: str) -> None:
    """Cover art: an attachment in Matroska; elsewhere a one-picture stream flagged as an attached picture."""
    picture = cover_picture(codec)
    if out.format.name == "matroska":
        out.add_attachment("cover.png" if codec == "png" else "cover.jpg",
                           "image/png" if codec == "png" else "image/jpeg", picture)
        return
    stream = out.add_stream(codec)
    stream.width = stream.height = 96
    stream.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
    stream.disposition = av.stream.Disposition.attached_pic
    out.start_encoding()
    packet = av.Packet(picture)
    packet.stream, packet.pts, packet.dts, packet.time_base = stream, 0, 0, Fraction(1, 90000)
    out.mux(packet)


def truncate(path: Path | str, keep_fraction: float) -> Path:
    """Cut a file short in place (as an interrupted download would)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def decode_video(path: Path | str, rgb: bool = False
                 ) -> tuple[list[int], Fraction, list[np.ndarray], av.VideoFrame | None]:
    """(pts list, time_base, arrays, first frame) of the best video stream; arrays only if ``rgb``."""
    pts, arrays, first = [], [], None
    with av.open(str(path)) as c:
        stream = next(s for s in c.streams.video if not s.disposition & av.stream.Disposition.attached_pic)
        tb = stream.time_base
        for frame in c.decode(stream):
            first = first or frame
            pts.append(frame.pts)
            if rgb:
                arrays.append(frame.to_ndarray(format="rgb24"))
    return pts, tb, arrays, first


def packet_bytes(path: Path | str, kind: str = "audio") -> list[list[tuple[Fraction | None, bytes]]]:
    """Per stream of ``kind``: every non-empty packet as (pts in seconds, payload), for bit-exact checks."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        result: list[list[tuple[Fraction | None, bytes]]] = [[] for _ in streams]
        index = {s.index: k for k, s in enumerate(streams)}
        if not streams:
            return result
        for packet in c.demux(*streams):
            if packet.size:
                t = None if packet.pts is None else packet.pts * packet.time_base
                result[index[packet.stream.index]].append((t, bytes(packet)))
    return result


def payloads(path: Path | str, kind: str = "audio") -> list[list[bytes]]:
    """Like :func:`packet_bytes` without the times (for containers that re-time packets)."""
    return [[data for _, data in stream] for stream in packet_bytes(path, kind)]


def extras(path: Path | str) -> dict:
    """What a file holds besides frames and packets: pixel aspect ratio, chapters, cover art, attachments, timecode.

    Chapters are (start s, end s, title); cover art is (codec, picture bytes) of attached-picture streams;
    attachments are (file name, mimetype, bytes). Comparable between an input and an output.
    """
    with av.open(str(path)) as c:
        video = next(s for s in c.streams.video if not s.disposition & av.stream.Disposition.attached_pic)
        sar = video.sample_aspect_ratio
        chapters = [(ch["start"] * ch["time_base"], ch["end"] * ch["time_base"], ch["metadata"].get("title"))
                    for ch in c.chapters()]
        attachments = sorted((s.metadata.get("filename"), s.metadata.get("mimetype"), bytes(s.data))
                             for s in c.streams if s.type == "attachment")
        covers = []
        for s in c.streams.video:
            if s.disposition & av.stream.Disposition.attached_pic:
                packet = next((p for p in c.demux(s) if p.size), None)
                covers.append((s.codec_context.name, bytes(packet) if packet is not None else b""))
        timecodes = [v for s in (video, *c.streams) for k, v in s.metadata.items() if k.lower() == "timecode"]
    return {"sar": sar if sar and sar != 1 else None, "chapters": chapters, "covers": sorted(covers),
            "attachments": attachments, "timecode": timecodes[0] if timecodes else None}


def first_times(path: Path | str) -> tuple[Fraction, list[Fraction | None]]:
    """(time of the first video frame, time of each audio stream's first packet), for A/V sync checks."""
    pts, tb, _, _ = decode_video(path)
    return pts[0] * tb, [stream[0][0] if stream else None for stream in packet_bytes(path)]
