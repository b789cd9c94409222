# stale_names.py PORT: against a ferretd (sqlite, several workers) on 127.0.0.1:PORT, renames,
# recreates and drops a collection from one client while others use it, and checks that no
# client reads or writes through a stale collection -> table mapping (session name cache).
# Fails (stale read, or a duplicate key from an update landing in the renamed table) when
# the cache is not invalidated. Run by hand: not wired into meson (it needs a running server).
import pymongo, sys
port=int(sys.argv[1])
cs=[pymongo.MongoClient(port=port, maxPoolSize=1) for _ in range(4)]
bad=0
for it in range(200):
    a=cs[it%4]; b=cs[(it+1)%4]
    d=a.t
    d.x.insert_one({'_id':1,'v':'x%d'%it})
    for c in cs: assert c.t.x.find_one({'_id':1})['v']=='x%d'%it
    b.t.x.rename('y', dropTarget=True)
    for c in cs:
        r=c.t.x.find_one({'_id':1})
        if r is not None: bad+=1; print('stale after rename', r)
        assert c.t.y.find_one({'_id':1})['v']=='x%d'%it
    b.t.x.insert_one({'_id':1,'v':'new%d'%it})
    for c in cs:
        r=c.t.x.find_one({'_id':1})
        if r is None or r['v']!='new%d'%it: bad+=1; print('stale after recreate', r)
        # write through a possibly stale mapping
    cs[(it+2)%4].t.x.update_one({'_id':1},{'$set':{'w':it}})
    if b.t.y.find_one({'_id':1}).get('w') is not None: bad+=1; print('wrote wrong table')
    b.t.x.drop(); b.t.y.drop()
    for c in cs:
        if c.t.x.find_one({'_id':1}) is not None: bad+=1; print('stale after drop')
print('bad', bad)
