# plot.gp: throughput against client count, one panel per backend (bench/README.md).
#
#   gnuplot -e "sq='sqlite.dat'; pg='postgres.dat'; out='chart.png'" bench/plot.gp
#
# Either data file may be '' (that backend was not run). The columns are those bench_server
# writes with --dat: clients, ferretd per workload (2-8), its anchors (9-15), TCP echo (16).
# Solid lines are ferretd, dashed lines the anchor of the same colour.

if (!exists("sq")) sq = ''
if (!exists("pg")) pg = ''
if (!exists("out")) out = 'chart.png'
panels = (strlen(sq) > 0) + (strlen(pg) > 0)
if (panels == 0) panels = 1

set terminal pngcairo size (700 * panels), 560 font ",10"
set output out
set multiplot layout 1, panels
set logscale x 2
set logscale y 10
set xlabel "concurrent clients"
set ylabel "throughput (ops/s; docs/s for insertMany and the scan)"
set grid xtics ytics mytics
set key outside bottom center horizontal maxrows 4 font ",9"
set xrange [0.8:80]
set xtics (1, 2, 4, 8, 16, 32, 64)
set format y "10^{%L}"

names = "ping find-by-id scan(docs/s) update-inc 50/50-mix insertOne insertMany(docs/s)"
anchors = "raw-wire-ping raw raw raw raw raw raw"
colors = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2"

do for [f in sq." ".pg] {
   if (strlen(f) > 0) {
      set title (f eq sq ? "SQLite backend: ferretd (solid) vs raw SQLite (dashed)" \
                          : "PostgreSQL backend: ferretd (solid) vs raw libpq (dashed)")
      plot for [i=1:7] f using 1:(column(i+1)) with linespoints lw 2 pt 7 \
              lc rgb word(colors, i) title word(names, i), \
           for [i=1:7] f using 1:(column(i+8)) with lines dt 2 lw 1.5 \
              lc rgb word(colors, i) notitle, \
           f using 1:16 with lines dt 3 lw 1.5 lc rgb "#000000" title "TCP echo"
   }
}
unset multiplot
