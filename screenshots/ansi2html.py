#!/usr/bin/env python3
"""ANSI (tmux capture-pane -e) to a self-contained HTML page, faithful enough for screenshots.

Reads the capture on stdin, writes HTML on stdout. Handles SGR: reset, bold, dim, reverse,
16 colours (30-37, 90-97, 40-47, 100-107), 256 colours (38;5;n) and truecolour (38;2;r;g;b).
"""
import html
import re
import sys

PALETTE = [
    "#1d1f21", "#cc6666", "#5fb35f", "#e0b040", "#6699cc", "#b294bb", "#5fb3b3", "#c5c8c6",
    "#666666", "#ff7b7b", "#8ce08c", "#ffd866", "#8cb8ff", "#d7a8ff", "#8ce0e0", "#ffffff",
]
FG, BG = "#c5c8c6", "#1d1f21"


def color256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    level = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (level, level, level)


def convert(text, title):
    state = {"fg": None, "bg": None, "bold": False, "dim": False, "reverse": False}
    out = []
    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        m = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
        if m:
            codes = [int(c) if c else 0 for c in m.group(1).split(";")] or [0]
            i = 0
            while i < len(codes):
                c = codes[i]
                if c == 0:
                    state.update(fg=None, bg=None, bold=False, dim=False, reverse=False)
                elif c == 1:
                    state["bold"] = True
                elif c == 2:
                    state["dim"] = True
                elif c == 7:
                    state["reverse"] = True
                elif c in (22,):
                    state["bold"] = state["dim"] = False
                elif c == 27:
                    state["reverse"] = False
                elif 30 <= c <= 37:
                    state["fg"] = PALETTE[c - 30]
                elif 90 <= c <= 97:
                    state["fg"] = PALETTE[c - 90 + 8]
                elif 40 <= c <= 47:
                    state["bg"] = PALETTE[c - 40]
                elif 100 <= c <= 107:
                    state["bg"] = PALETTE[c - 100 + 8]
                elif c == 39:
                    state["fg"] = None
                elif c == 49:
                    state["bg"] = None
                elif c in (38, 48) and i + 1 < len(codes):
                    key = "fg" if c == 38 else "bg"
                    if codes[i + 1] == 5 and i + 2 < len(codes):
                        state[key] = color256(codes[i + 2])
                        i += 2
                    elif codes[i + 1] == 2 and i + 4 < len(codes):
                        state[key] = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5])
                        i += 4
                i += 1
            continue
        if not part:
            continue
        fg, bg = state["fg"] or FG, state["bg"] or BG
        if state["reverse"]:
            fg, bg = bg, fg
        style = f"color:{fg};background:{bg}"
        if state["bold"]:
            style += ";font-weight:bold"
        if state["dim"]:
            style += ";opacity:0.6"
        out.append(f'<span style="{style}">{html.escape(part)}</span>')
    body = "".join(out)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{margin:0;background:{BG}}}pre{{margin:0;padding:12px 14px;font:15px/1.25 'DejaVu Sans Mono',monospace;color:{FG};background:{BG};white-space:pre}}</style>
</head><body><pre>{body}</pre></body></html>"""


if __name__ == "__main__":
    sys.stdout.write(convert(sys.stdin.read(), sys.argv[1] if len(sys.argv) > 1 else "tablestat"))
