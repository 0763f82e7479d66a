"""Every message between Python and the browser, declared once as types (as anywidget's `_protocols.py` does).

The front ends (`static/*.js`) never re-declare a key or a constant of their own: what they need is sent to them
(see each widget's `constants` message). Sections: the participants table, the room browser, the live chart.
"""

from __future__ import annotations

# -- the participants table (widgets/table.py <-> static/table.js) ---------------------------------------------------


# -- the room browser (widgets/rooms.py <-> static/rooms.js) ---------------------------------------------------------


# -- the live chart (widgets/livechart.py <-> static/livechart.js) ---------------------------------------------------
