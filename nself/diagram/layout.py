"""Where every table, foreign-key line and cluster of a diagram goes: a layered
(Sugiyama-style) layout of our own, so that a picture needs no Graphviz and is the same
on every machine for the same schema.

How: tables are boxes sized by their column lists (a monospace font's metrics, the ones
the SVG asks for). The nodes are split into blocks, one per cluster (a DBML TableGroup
first, else the table's schema), and each block into its connected pieces. A piece is
laid out left to right in layers: a table referenced by a foreign key sits left of the
table that references it (cycles broken by turning round the few edges that go against
Eades, Lin and Smyth's greedy order; tables nothing references move right out of a layer
much taller than the piece is wide), a long edge passes through one point per layer it
crosses, a few barycenter sweeps order each layer to cross fewer edges (the order with
the fewest crossings is kept), and each layer's boxes are placed as near the rows they
connect to as the boxes' heights allow (an isotonic regression, so boxes never overlap).
Tables without foreign keys, pieces and blocks are packed in rows. An edge runs from the
referencing column's row to the referenced column's row as cubic curves with horizontal
tangents (`Route.curves`), which the SVG draws as they are and the PNG samples; an edge
between two frames runs in straight pieces through the gaps between them (when its
tables have a free lane beside them).
"""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from nself.diagram.graph import Cluster, Edge, Graph, Node

FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
FONT_SIZE = 12
CHAR = 7.25             # the advance of one character of FONT at FONT_SIZE (0.6 em)
ROW = 20                # one column's row
HEADER = 26             # a table's name
PAD = 8                 # text inside a box
MIN_WIDTH = 120
GAP_Y = 24              # between two boxes of a layer
GAP_DUMMY = 6           # between an edge's passing point and its neighbours
DUMMY = 4               # the height an edge takes in a layer it crosses
GAP_X = 70              # between layers, plus LANE per edge leaving a layer (capped)
LANE = 3
GAP_PIECE = 40          # between packed pieces and blocks
FRAME_PAD = 16          # a cluster's frame around its members
FRAME_LABEL = 24        # the frame's title
MARGIN = 16
SWEEPS = 4

Point = tuple[float, float]
Curve = tuple[Point, Point, Point, Point]


@dataclass
class Box:
    """A table's box; rows below its header, one per column, in order."""
    node: Node
    x: float
    y: float
    width: float
    height: float
    mark_width: float       # the PK/FK marks column

    def row_y(self, column: str) -> float:
        """The middle of COLUMN's row (of the header when the box does not show it)."""
        return self.y + _row_offset(self.node, column)


@dataclass
class Route:
    """One foreign key's line: through POINTS, drawn as CURVES (cubic Béziers)."""
    edge: Edge
    points: list[Point]
    curves: list[Curve]


@dataclass
class Frame:
    """A cluster's frame around the boxes of its members."""
    cluster: Cluster
    x: float
    y: float
    width: float
    height: float


@dataclass
class Layout:
    graph: Graph
    boxes: dict[str, Box] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    width: float = 0
    height: float = 0


def marks(column) -> str:
    """PK, FK (both: "PK FK"), or U for a unique column that is no primary key."""
    words = (["PK"] if column.pk else []) + (["FK"] if column.fk else [])
    if not words and column.unique:
        words = ["U"]
    return " ".join(words)


def title(node: Node) -> str:
    """The header's text: the name (schema-qualified outside public), and how many
    partitions it holds when they are folded in."""
    name = node.name if node.schema == "public" else node.id
    count = len(node.partitions)
    return f"{name} ({count} partition{'s' if count != 1 else ''})" if count else name


def frame_label(cluster: Cluster) -> str:
    """A frame's caption: a TableGroup's name, or "schema NAME"."""
    return cluster.name if cluster.kind == "group" else f"schema {cluster.name}"


def text_width(text: str, bold: bool = False) -> float:
    """TEXT's width in FONT: a wide character (CJK, most emoji) takes two cells."""
    cells = len(text) + sum(1 for ch in text if ord(ch) > 0x10ff
                            and unicodedata.east_asian_width(ch) in "WF")
    return cells * CHAR * (1.08 if bold else 1)


def layout(graph: Graph) -> Layout:
    """Every table's box, every foreign key's route and every cluster's frame."""
    result = Layout(graph)
    sizes = {i: _size(n) for i, n in graph.nodes.items()}
    parts = blocks(graph)
    framed = len(parts) > 1 or any(c.kind == "group" for c, _ in parts)
    edges_by_block: dict[int, list[Edge]] = defaultdict(list)
    block_of = {m: at for at, (_, members) in enumerate(parts) for m in members}
    for e in graph.edges:
        if block_of[e.source] == block_of[e.target]:
            edges_by_block[block_of[e.source]].append(e)
    placed = []     # (w, h, positions, routes, frame cluster)
    for at, (cluster, members) in enumerate(parts):
        positions, routes, w, h = _block(members, edges_by_block[at], sizes, graph)
        if framed:
            positions = {i: (x + FRAME_PAD, y + FRAME_LABEL) for i, (x, y) in positions.items()}
            routes = [(e, [(x + FRAME_PAD, y + FRAME_LABEL) for x, y in pts], loop)
                      for e, pts, loop in routes]
            w, h = w + 2 * FRAME_PAD, h + FRAME_LABEL + FRAME_PAD
        placed.append((w, h, positions, routes, cluster if framed else None))
    offsets, width, height = _pack([(w, h) for w, h, *_ in placed])
    for (ox, oy), (w, h, positions, routes, cluster) in zip(offsets, placed, strict=True):
        ox, oy = ox + MARGIN, oy + MARGIN
        for i, (x, y) in positions.items():
            bw, bh, mark_w = sizes[i]
            result.boxes[i] = Box(graph.nodes[i], x + ox, y + oy, bw, bh, mark_w)
        for e, pts, loop in routes:
            result.routes.append(_route(e, [(x + ox, y + oy) for x, y in pts], loop, result))
        if cluster is not None:
            result.frames.append(Frame(cluster, ox, oy, w, h))
    rows = _rows(offsets, [(w, h) for w, h, *_ in placed])
    members = defaultdict(list)
    for i, at in block_of.items():
        members[at].append(result.boxes[i])
    for e in graph.edges:
        source, target = block_of[e.source], block_of[e.target]
        if source != target:
            result.routes.append(_detour(e, result, rows[source], rows[target],
                                         members[source], members[target]))
    order = {id(e): at for at, e in enumerate(graph.edges)}
    result.routes.sort(key=lambda r: order[id(r.edge)])
    result.width, result.height = width + 2 * MARGIN, height + 2 * MARGIN
    return result


def _size(node: Node) -> tuple[float, float, float]:
    """(width, height, marks column width) of NODE's box."""
    mark_w = max((text_width(marks(c)) for c in node.columns), default=0)
    mark_w = mark_w + PAD if mark_w else 0
    name_w = max((text_width(c.name) for c in node.columns), default=0)
    type_w = max((text_width(c.type) for c in node.columns), default=0)
    width = max(MIN_WIDTH, 2 * PAD + mark_w + name_w + 2 * CHAR + type_w,
                2 * PAD + text_width(title(node), bold=True))
    return math.ceil(width), HEADER + ROW * len(node.columns), mark_w


def blocks(graph: Graph) -> list[tuple[Cluster, list[str]]]:
    """The nodes split by cluster: a node goes to the first TableGroup holding it, else to
    its schema's cluster; clusters left without members are dropped."""
    group_of: dict[str, int] = {}
    for at, c in enumerate(graph.clusters):
        if c.kind == "group":
            for m in c.members:
                group_of.setdefault(m, at)
    schema_at = {c.name: at for at, c in enumerate(graph.clusters) if c.kind == "schema"}
    members: dict[int, list[str]] = defaultdict(list)
    loose: dict[str, list[str]] = defaultdict(list)
    for i, node in graph.nodes.items():
        if i in group_of:
            members[group_of[i]].append(i)
        elif node.schema in schema_at:
            members[schema_at[node.schema]].append(i)
        else:
            loose[node.schema].append(i)
    found = [(graph.clusters[at], members[at]) for at in sorted(members)]
    return found + [(Cluster(name, "schema"), ids) for name, ids in loose.items()]


def _block(members, edges, sizes, graph):
    """One block laid out from (0, 0): positions of its boxes, its routes as
    (edge, points, self-loop) and its size."""
    parent = {m: m for m in members}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for e in edges:
        if e.source != e.target:
            parent[find(e.source)] = find(e.target)
    pieces: dict[str, list[str]] = defaultdict(list)
    for m in members:
        pieces[find(m)].append(m)
    piece_edges: dict[str, list[Edge]] = defaultdict(list)
    for e in edges:
        piece_edges[find(e.source)].append(e)
    laid = []
    for root, ids in pieces.items():
        if len(ids) == 1:
            w, h = sizes[ids[0]][:2]
            loops = [(e, [], True) for e in piece_edges[root]]
            laid.append(({ids[0]: (0.0, 0.0)}, loops, w, h, 1))
        else:
            laid.append((*_layered(ids, piece_edges[root], sizes, graph), len(ids)))
    # the connected pieces first, biggest first; then the single tables in their order
    laid.sort(key=lambda p: -p[4] if p[4] > 1 else 0)
    offsets, width, height = _pack([(w, h) for _, _, w, h, _ in laid])
    positions, routes = {}, []
    for (ox, oy), (pos, rts, _, _, _) in zip(offsets, laid, strict=True):
        positions.update({i: (x + ox, y + oy) for i, (x, y) in pos.items()})
        routes += [(e, [(x + ox, y + oy) for x, y in pts], loop) for e, pts, loop in rts]
    return positions, routes, width, height


def _pack(sizes: list[tuple[float, float]]) -> tuple[list[Point], float, float]:
    """Rows of items, left to right, wrapping at a width that makes the whole about 1.6 times
    as wide as high: each item's offset, and the total size."""
    if not sizes:
        return [], 0, 0
    area = sum((w + GAP_PIECE) * (h + GAP_PIECE) for w, h in sizes)
    limit = max(max(w for w, _ in sizes), math.sqrt(area * 1.6))
    offsets, x, y, row_h, width = [], 0.0, 0.0, 0.0, 0.0
    for w, h in sizes:
        if x > 0 and x + w > limit:
            x, y, row_h = 0.0, y + row_h + GAP_PIECE, 0.0
        offsets.append((x, y))
        width = max(width, x + w)
        row_h = max(row_h, h)
        x += w + GAP_PIECE
    return offsets, width, y + row_h


def _layered(ids, edges, sizes, graph):
    """A connected piece in layers, referenced tables left of the tables referencing them."""
    index = {i: at for at, i in enumerate(ids)}
    out: dict[str, list[str]] = {i: [] for i in ids}     # referencing -> referenced
    for e in edges:
        if e.source != e.target:
            out[e.source].append(e.target)
    reversed_pairs = _back_edges(ids, out)
    dag: dict[str, list[str]] = {i: [] for i in ids}
    for a in ids:
        for b in out[a]:
            if (a, b) in reversed_pairs:
                dag[b].append(a)
            else:
                dag[a].append(b)
    layer = _layers(ids, dag)
    _spread_leaves(ids, dag, layer, sizes)
    # nodes: the tables, then one point per layer an edge crosses
    node_layer: dict[object, int] = dict(layer)
    chains: list[tuple[Edge, list[object]]] = []    # edge -> its nodes, source to target
    left_nb: dict[object, list[object]] = defaultdict(list)
    right_nb: dict[object, list[object]] = defaultdict(list)
    for n, e in enumerate(edges):
        if e.source == e.target:
            chains.append((e, [e.source]))
            continue
        a, b = e.source, e.target
        la, lb = layer[a], layer[b]
        step = -1 if la > lb else 1
        chain: list[object] = [a]
        for at, lay in enumerate(range(la + step, lb, step)):
            dummy = ("edge", n, at)
            node_layer[dummy] = lay
            chain.append(dummy)
        chain.append(b)
        chains.append((e, chain))
        for u, v in zip(chain, chain[1:], strict=False):
            lo, hi = (u, v) if node_layer[u] < node_layer[v] else (v, u)
            right_nb[lo].append(hi)
            left_nb[hi].append(lo)
    count = max(node_layer.values()) + 1
    layers: list[list[object]] = [[] for _ in range(count)]
    for n in _first_order(ids, index, dag, node_layer):
        layers[node_layer[n]].append(n)
    _reduce_crossings(layers, left_nb, right_nb)
    height = {n: sizes[n][1] if isinstance(n, str) else DUMMY for n in node_layer}
    width = {n: sizes[n][0] if isinstance(n, str) else 0 for n in node_layer}
    # x: one column per layer, wider where more edges leave it
    column_x, x = [], 0.0
    for lay in layers:
        column_x.append(x)
        lanes = sum(len(right_nb[n]) for n in lay)
        x += max((width[n] for n in lay), default=0) + GAP_X + LANE * min(lanes, 30)
    layer_w = [max((width[n] for n in lay), default=0) for lay in layers]
    xs = {n: column_x[node_layer[n]] + (layer_w[node_layer[n]] - width[n]) / 2
          for n in node_layer}
    ys = _place_rows(layers, height, left_nb, right_nb, chains, graph)
    top = min(ys.values())
    ys = {n: y - top for n, y in ys.items()}
    positions = {i: (xs[i], ys[i]) for i in ids}
    routes = []
    for e, chain in chains:
        if len(chain) == 1:
            routes.append((e, [], True))
        else:
            routes.append((e, [(xs[d], ys[d] + DUMMY / 2) for d in chain[1:-1]], False))
    full_w = max(xs[n] + width[n] for n in node_layer)
    full_h = max(ys[n] + height[n] for n in node_layer)
    return positions, routes, full_w, full_h


def _back_edges(ids, out) -> set[tuple[str, str]]:
    """Edges whose turning round leaves no cycle, few of them: Eades, Lin and Smyth's greedy
    order (tables referencing nothing go last, tables nothing references first, else the
    table with the most references out over in), and the edges going back against it."""
    outs = {i: set(out[i]) for i in ids}
    ins: dict[str, set[str]] = {i: set() for i in ids}
    for a in ids:
        for b in out[a]:
            ins[b].add(a)
    index = {i: at for at, i in enumerate(ids)}
    left: list[str] = []
    right: list[str] = []
    remaining = dict.fromkeys(ids)

    def remove(n):
        del remaining[n]
        for m in outs[n]:
            ins[m].discard(n)
        for m in ins[n]:
            outs[m].discard(n)

    while remaining:
        changed = True
        while changed:
            changed = False
            for n in [n for n in remaining if not outs[n]]:
                right.append(n)
                remove(n)
                changed = True
            for n in [n for n in remaining if not ins[n]]:
                left.append(n)
                remove(n)
                changed = True
        if remaining:
            best = max(remaining, key=lambda n: (len(outs[n]) - len(ins[n]), -index[n]))
            left.append(best)
            remove(best)
    position = {n: at for at, n in enumerate(left + right[::-1])}
    return {(a, b) for a in ids for b in out[a] if position[a] > position[b]}


def _layers(ids, dag) -> dict[str, int]:
    """Longest path from the referenced end (layer 0: references nothing), then each table
    that references nothing moved right next to the nearest table referencing it."""
    layer: dict[str, int] = {}
    for start in ids:
        if start in layer:
            continue
        stack = [(start, iter(dag[start]))]
        on = {start}
        while stack:
            node, nexts = stack[-1]
            for nxt in nexts:
                if nxt not in layer and nxt not in on:
                    on.add(nxt)
                    stack.append((nxt, iter(dag[nxt])))
                    break
            else:
                layer[node] = 1 + max((layer[t] for t in dag[node]), default=-1)
                on.discard(node)
                stack.pop()
    referencing: dict[str, list[str]] = defaultdict(list)
    for a in ids:
        for b in dag[a]:
            referencing[b].append(a)
    for i in ids:
        if not dag[i] and referencing[i]:
            layer[i] = min(layer[r] for r in referencing[i]) - 1
    return layer


def _spread_leaves(ids, dag, layer, sizes) -> None:
    """Move tables nothing references out of a layer taller than the piece is wide would
    be on a square, one layer right at a time: forty tables referencing `users` become
    columns of a few each instead of one column forty boxes high."""
    area = sum(sizes[i][0] * sizes[i][1] for i in ids)
    limit = max(max(sizes[i][1] for i in ids), math.sqrt(area))
    referenced = {b for a in ids for b in dag[a]}
    k = 0
    while k <= max(layer.values()):
        members = [i for i in ids if layer[i] == k]
        excess = sum(sizes[i][1] + GAP_Y for i in members) - GAP_Y - limit
        for i in reversed(members):
            if excess <= 0:
                break
            if i not in referenced:
                layer[i] = k + 1
                excess -= sizes[i][1] + GAP_Y
        k += 1


def _first_order(ids, index, dag, node_layer):
    """Nodes in a breadth-first order over the tables (edge points after their source), a
    start for the crossing reduction that keeps related tables near each other."""
    seen: dict[object, None] = {}
    near: dict[str, list[str]] = defaultdict(list)
    for a in ids:
        for b in dag[a]:
            near[a].append(b)
            near[b].append(a)
    for start in ids:
        if start in seen:
            continue
        queue = [start]
        seen[start] = None
        while queue:
            nxt = []
            for n in queue:
                for m in sorted(near[n], key=index.__getitem__):
                    if m not in seen:
                        seen[m] = None
                        nxt.append(m)
            queue = nxt
    order = list(seen)
    order += [n for n in node_layer if not isinstance(n, str)]
    return order


def _reduce_crossings(layers, left_nb, right_nb) -> None:
    """Barycenter sweeps, left to right then back, SWEEPS times, keeping the order that
    crossed the fewest edges (a sweep can make it worse)."""
    pos = {n: at for lay in layers for at, n in enumerate(lay)}
    best = (_crossings(layers, right_nb, pos), [list(lay) for lay in layers])
    for _ in range(SWEEPS):
        for sweep, nbs in ((range(1, len(layers)), left_nb),
                           (range(len(layers) - 2, -1, -1), right_nb)):
            for at in sweep:
                lay = layers[at]

                def center(n, nbs=nbs):
                    found = nbs.get(n)
                    return sum(pos[m] for m in found) / len(found) if found else pos[n]

                lay.sort(key=center)
                for k, n in enumerate(lay):
                    pos[n] = k
        count = _crossings(layers, right_nb, pos)
        if count < best[0]:
            best = (count, [list(lay) for lay in layers])
    layers[:] = best[1]


def _crossings(layers, right_nb, pos) -> int:
    """How many pairs of edges cross between neighbouring layers (pairs inverted in the
    second layer's order once sorted by the first's), counted with a Fenwick tree."""
    total = 0
    for lay, nxt in zip(layers, layers[1:], strict=False):
        ends = sorted((pos[u], pos[v]) for u in lay for v in right_nb.get(u, ()))
        tree = [0] * (len(nxt) + 1)
        for seen, (_, v) in enumerate(ends):
            k, below = v + 1, 0
            while k > 0:                      # edges so far ending at or above v
                below += tree[k]
                k -= k & -k
            total += seen - below
            k = v + 1
            while k <= len(nxt):
                tree[k] += 1
                k += k & -k
    return total


def _place_rows(layers, height, left_nb, right_nb, chains, graph) -> dict[object, float]:
    """Each node's top: stacked in its layer's order, then moved, sweep by sweep, as near to
    the rows it connects to in the previous layer as the order and gaps allow."""
    # where on a node an edge attaches, relative to its top, per (node, other node)
    port: dict[tuple[object, object], float] = {}
    for e, chain in chains:
        if len(chain) < 2:
            continue
        node_s, node_t = graph.nodes[e.source], graph.nodes[e.target]
        port[(chain[0], chain[1])] = _row_offset(node_s, e.source_columns[0])
        port[(chain[-1], chain[-2])] = _row_offset(node_t, e.target_columns[0])
    ys: dict[object, float] = {}
    for lay in layers:
        y = 0.0
        for n in lay:
            ys[n] = y
            y += height[n] + _gap(n)

    def at(n, other):
        return port.get((n, other), DUMMY / 2)

    # per node and sweep: (neighbour, what to add to its top to line the ports up)
    pulls = [{n: [(m, at(m, n) - at(n, m)) for m in nbs[n]] for n in nbs}
             for nbs in (left_nb, right_nb)]
    spans = [[height[n] + _gap(n) for n in lay] for lay in layers]
    for _ in range(SWEEPS):
        for sweep, pull in ((range(1, len(layers)), pulls[0]),
                            (range(len(layers) - 2, -1, -1), pulls[1])):
            for k in sweep:
                lay = layers[k]
                wanted = []
                for n in lay:
                    found = pull.get(n)
                    wanted.append(sum(ys[m] + d for m, d in found) / len(found) if found
                                  else ys[n])
                for n, y in zip(lay, _isotonic(wanted, spans[k]), strict=True):
                    ys[n] = y
    return ys


def _gap(n) -> float:
    return GAP_Y if isinstance(n, str) else GAP_DUMMY


def _row_offset(node: Node, column: str) -> float:
    for at, c in enumerate(node.columns):
        if c.name == column:
            return HEADER + ROW * at + ROW / 2
    return HEADER / 2


def _isotonic(wanted: list[float], spans: list[float]) -> list[float]:
    """Tops as near to WANTED (least squares) as keeping each box SPANS[i] above the next
    allows: pool-adjacent-violators on the tops minus the room the boxes above need."""
    offsets, total = [], 0.0
    for span in spans:
        offsets.append(total)
        total += span
    pools: list[list[float]] = []       # [mean, count]
    for w, o in zip(wanted, offsets, strict=True):
        pools.append([w - o, 1])
        while len(pools) > 1 and pools[-2][0] > pools[-1][0]:
            mean, count = pools.pop()
            prev = pools[-1]
            prev[0] = (prev[0] * prev[1] + mean * count) / (prev[1] + count)
            prev[1] += count
    result = []
    for mean, count in pools:
        result += [mean] * int(count)
    return [z + o for z, o in zip(result, offsets, strict=True)]


def _route(edge: Edge, through: list[Point], loop: bool, result: Layout) -> Route:
    """EDGE's route from its first referencing column's row to its first referenced
    column's row, leaving and entering the boxes on the sides that face each other."""
    source, target = result.boxes[edge.source], result.boxes[edge.target]
    y0 = source.row_y(edge.source_columns[0])
    y1 = target.row_y(edge.target_columns[0])
    if loop:
        x = source.x + source.width
        reach = 30 + abs(y1 - y0) / 4
        start, end = (x, y0), (x, y1 if y1 != y0 else y0 + ROW / 2)
        curve = (start, (x + reach, y0), (x + reach, end[1]), end)
        return Route(edge, [start, end], [curve])
    if not through and _overlap(source, target):
        # one box above the other: out of both right sides, bulging right of both
        x0, x1 = source.x + source.width, target.x + target.width
        reach = max(x0, x1) - min(x0, x1) + 40 + min(abs(y1 - y0) / 10, 80)
        start, end = (x0, y0), (x1, y1)
        curve = (start, (min(x0, x1) + reach, y0), (min(x0, x1) + reach, y1), end)
        return Route(edge, [start, end], [curve])
    first = through[0] if through else (target.x + target.width / 2, y1)
    last = through[-1] if through else (source.x + source.width / 2, y0)
    leave_left = first[0] < source.x + source.width / 2
    enter_left = last[0] < target.x + target.width / 2
    start = (source.x if leave_left else source.x + source.width, y0)
    end = (target.x if enter_left else target.x + target.width, y1)
    points = [start, *through, end]
    pairs = zip(points, points[1:], strict=False)
    return Route(edge, points, [_curve(a, b) for a, b in pairs])


def _rows(offsets: list[Point], sizes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Each packed block's row of blocks as (top, bottom), on the canvas."""
    bottom: dict[float, float] = {}
    for (_, y), (_, h) in zip(offsets, sizes, strict=True):
        bottom[y] = max(bottom.get(y, y), y + h)
    return [(y + MARGIN, bottom[y] + MARGIN) for _, y in offsets]


def _detour(edge: Edge, result: Layout, source_row, target_row, source_boxes,
            target_boxes) -> Route:
    """An edge between two frames, in straight pieces through the empty space: out of
    its table's side into the nearest free lane, along it to the gap between rows of
    frames, along that gap (and down the left margin when the rows are not neighbours),
    then down the target's lane into its row."""
    s, t = result.boxes[edge.source], result.boxes[edge.target]
    y0, y1 = s.row_y(edge.source_columns[0]), t.row_y(edge.target_columns[0])
    right = t.x + t.width / 2 >= s.x + s.width / 2
    x0 = s.x + s.width if right else s.x
    x1 = t.x if right else t.x + t.width
    half = GAP_PIECE / 2
    if source_row == target_row:
        gs = gt = max(source_row[0] - half, MARGIN / 2)
    elif target_row[0] > source_row[0]:
        gs, gt = source_row[1] + half, target_row[0] - half
    else:
        gs, gt = max(source_row[0] - half, MARGIN / 2), target_row[1] + half
    xs = _lane(x0, 1 if right else -1, y0, gs, source_boxes)
    xt = _lane(x1, -1 if right else 1, y1, gt, target_boxes)
    if abs(xs - x0) > GAP_PIECE or abs(xt - x1) > GAP_PIECE:
        # no free lane beside the table (it is deep inside a big block): the way out would
        # cross its neighbours, so the edge goes straight across instead
        return _route(edge, [], False, result)
    points = [(x0, y0), (xs, y0), (xs, gs)]
    if gs != gt:
        points += [(MARGIN / 2, gs), (MARGIN / 2, gt)]
    points += [(xt, gt), (xt, y1), (x1, y1)]
    pairs = zip(points, points[1:], strict=False)
    return Route(edge, points, [_line(a, b) for a, b in pairs])


def _lane(x: float, sign: int, y0: float, y1: float, boxes: list[Box]) -> float:
    """Half a gap beyond X in direction SIGN when a vertical line there from Y0 to Y1 meets
    none of BOXES; else a place beyond the boxes it meets (which the caller refuses)."""
    lane = x + sign * GAP_PIECE / 2
    low, high = min(y0, y1), max(y0, y1)
    hit = [b for b in boxes if b.x - 4 < lane < b.x + b.width + 4
           and b.y < high and low < b.y + b.height]
    if hit:     # the first lane is blocked: say so with one beyond the blocking boxes
        lane = (max(b.x + b.width for b in hit) + GAP_PIECE / 2 if sign > 0
                else min(b.x for b in hit) - GAP_PIECE / 2)
    return lane


def _line(a: Point, b: Point) -> Curve:
    """A straight piece from A to B, as a cubic."""
    return (a, (a[0] + (b[0] - a[0]) / 3, a[1] + (b[1] - a[1]) / 3),
            (a[0] + 2 * (b[0] - a[0]) / 3, a[1] + 2 * (b[1] - a[1]) / 3), b)


def _overlap(a: Box, b: Box) -> bool:
    """Whether A and B share some of their width (then no side of one faces the other)."""
    return a.x < b.x + b.width and b.x < a.x + a.width


def _curve(a: Point, b: Point) -> Curve:
    """A cubic from A to B leaving and arriving horizontally."""
    reach = max(abs(b[0] - a[0]) / 2, 16)
    sign = 1 if b[0] >= a[0] else -1
    return (a, (a[0] + sign * reach, a[1]), (b[0] - sign * reach, b[1]), b)
