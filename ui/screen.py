"""The editor window's opening size: most of the screen, never less than the classic size
when that fits."""

from __future__ import annotations

SCREEN_SHARE = 0.9  # of the screen's width and height, title bar and menu bar included
MIN_SIZE = (1180, 760)  # the size the window had before; kept where the screen allows it
TITLE_AND_MENU = 60  # pixels a window manager's title bar and the menu bar add above the geometry's height


def initial_size(screen_width: int, screen_height: int) -> tuple[int, int]:
    """(width, height) of the window's geometry (below the menu bar): 90% of the screen
    with the title and menu bars, at least `MIN_SIZE` where the screen is that large."""
    width = int(screen_width * SCREEN_SHARE)
    height = int(screen_height * SCREEN_SHARE) - TITLE_AND_MENU
    if MIN_SIZE[0] <= screen_width:
        width = max(width, MIN_SIZE[0])
    if MIN_SIZE[1] + TITLE_AND_MENU <= screen_height:
        height = max(height, MIN_SIZE[1])
    return width, height


def initial_geometry(screen_width: int, screen_height: int) -> str:
    """A Tk geometry string "WxH+X+Y": `initial_size`, centred on the screen."""
    width, height = initial_size(screen_width, screen_height)
    left = max(0, (screen_width - width) // 2)
    top = max(0, (screen_height - height - TITLE_AND_MENU) // 2)
    return f"{width}x{height}+{left}+{top}"
