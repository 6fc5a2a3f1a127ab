# A large HTML page for w3m -dump (tests/compat/programs.sh, bench/gc):
# 3000 sections of text, tables and lists, the same every time.
import random
import sys

random.seed(1)
words = ['alpha', 'beta', '<b>gamma</b>', 'delta', '<i>eps</i>', 'zeta']
with open(sys.argv[1], 'w') as f:
    f.write('<html><body>\n')
    for i in range(3000):
        f.write('<h2>Section %d</h2><p>%s</p>\n' % (i, ' '.join(random.choice(words) for _ in range(60))))
        if i % 10 == 0:
            f.write('<table border=1>' + ''.join('<tr>' + ''.join('<td>%d</td>' % (i * j + k) for k in range(8)) + '</tr>' for j in range(5)) + '</table>\n')
            f.write('<ul>' + ''.join('<li><a href="x%d.html">link %d</a></li>' % (j, j) for j in range(10)) + '</ul>\n')
    f.write('</body></html>\n')
