//+------------------------------------------------------------------+
//|                                         Tradestate/Queue.mqh     |
//| A lane's unsent updates and its seq counter, kept in             |
//| MQL5\Files\Tradestate so a restart loses nothing and never       |
//| reuses a seq (CLIENT.md "The queue log", "Sequence numbers"; the |
//| Rust reference client keeps the same files).                     |
//|                                                                  |
//| <id>.<lane>.log  header line, then update lines (wire JSON) and  |
//|                  {"done":[seq,...]} lines, appended; rewritten   |
//|                  with the live updates only (compaction) when    |
//|                  the done ones outnumber them and 1,000.         |
//| <id>.<lane>.seq  reserved=<n> / login=<n>: no seq above reserved |
//|                  was handed out; raised in blocks of SEQ_BLOCK.  |
//| <id>.<lane>.dead updates refused for good, with the reason.      |
//|                                                                  |
//| A queued instance/trade/positions state is replaced by a newer   |
//| one of the same key (last write wins anyway); signals never are. |
//| In memory, updates that left the queue are only marked, and the  |
//| arrays are compacted now and then, so draining a long queue does |
//| not shift it once per batch.                                     |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_QUEUE_MQH
#define TRADESTATE_QUEUE_MQH

#include "Wire.mqh"
#include "Lane.mqh"

#define TS_SEQ_BLOCK             1000
//--- How far past a stored_seq of another numbering a jump goes (SEQ_JUMP_MARGIN in Rust): an
//--- earlier incarnation of this lane whose files are gone may have numbered past it already.
#define TS_SEQ_JUMP_MARGIN       1000000000
#define TS_QUEUE_VERSION         2
//--- Compaction: when the done updates of the log exceed the live ones and this many.
#define TS_COMPACT_MIN_DONE      1000

//--- Batch groups: each has its own backoff (CLIENT.md "Sending").
#define TS_GROUP_INSTANCE 0
#define TS_GROUP_TRADE    1
#define TS_GROUP_SIGNAL   2
#define TS_GROUP_COUNT    3

int TsKindGroup(const int kind)
  {
   if(kind==TS_KIND_INSTANCE)
      return(TS_GROUP_INSTANCE);
   if(kind==TS_KIND_SIGNAL)
      return(TS_GROUP_SIGNAL);
   return(TS_GROUP_TRADE); // trade states and the positions snapshot (partition rts)
  }

//--- Line 1 of a log: {"tradestate_queue":2,"instance_id":"<id>","lane":"<lane>"}
string TsQueueHeader(const string instance_id,const string lane)
  {
   return("{\"tradestate_queue\":"+IntegerToString(TS_QUEUE_VERSION)+",\"instance_id\":"+TsJsonQuote(instance_id)+",\"lane\":"+TsJsonQuote(lane)+"}");
  }

//--- The clock floor of seq: UTC seconds times 1,000,000 (always above a seq sent a second before
//--- at up to a million updates a second, whatever files were lost).
long TsClockSeq(void)
  {
   return((long)TimeGMT()*1000000);
  }

class TsQueue
  {
private:
   string            m_id;
   string            m_lane;
   string            m_log_path;
   string            m_seq_path;
   string            m_dead_path;
   int               m_log;          // the log, open for appends
   //--- slots, in log order
   string            m_lines[];
   long              m_seqs[];
   string            m_keys[];
   int               m_kinds[];
   bool              m_live[];
   int               m_size;         // slots used
   int               m_count;        // live slots
   int               m_head;         // no live slot before it
   bool              m_sorted;       // m_seqs ascending (false only after adopting 1.0 lines)
   int               m_states[];     // live state slots, ascending
   int               m_state_count;
   //--- the log file
   int               m_file_updates; // update lines in the log
   int               m_file_done;    // of those, updates that left the queue
   //--- seq
   long              m_next_seq;
   long              m_reserved;
   long              m_login;        // the login this lane reports for (0: not bound yet)
   int               m_max;
   long              m_dead_total;
   bool              m_open;

   void              AddSlot(const string line,const long seq,const string key,const int kind)
     {
      if(m_size>=ArraySize(m_seqs))
        {
         int size=MathMax(256,m_size*2);
         ArrayResize(m_lines,size);
         ArrayResize(m_seqs,size);
         ArrayResize(m_keys,size);
         ArrayResize(m_kinds,size);
         ArrayResize(m_live,size);
        }
      if(m_size>0 && seq<=m_seqs[m_size-1])
         m_sorted=false;
      m_lines[m_size]=line;
      m_seqs[m_size]=seq;
      m_keys[m_size]=key;
      m_kinds[m_size]=kind;
      m_live[m_size]=true;
      if(key!="")
        {
         ArrayResize(m_states,m_state_count+1,64);
         m_states[m_state_count++]=m_size;
        }
      m_size++;
      m_count++;
     }

   void              Kill(const int slot)
     {
      if(!m_live[slot])
         return;
      m_live[slot]=false;
      m_lines[slot]=""; // the text is no longer needed
      m_count--;
      if(m_keys[slot]!="")
         for(int i=0;i<m_state_count;i++)
            if(m_states[i]==slot)
              {
               for(int k=i;k<m_state_count-1;k++)
                  m_states[k]=m_states[k+1];
               m_state_count--;
               break;
              }
      while(m_head<m_size && !m_live[m_head])
         m_head++;
     }

   int               StateSlot(const string key) const
     {
      for(int i=0;i<m_state_count;i++)
         if(m_keys[m_states[i]]==key)
            return(m_states[i]);
      return(-1);
     }

   //--- Drops the slots that left the queue (and sorts by seq after an adoption).
   void              CompactMemory(void)
     {
      int n=0;
      for(int i=0;i<m_size;i++)
        {
         if(!m_live[i])
            continue;
         m_lines[n]=m_lines[i];
         m_seqs[n]=m_seqs[i];
         m_keys[n]=m_keys[i];
         m_kinds[n]=m_kinds[i];
         m_live[n]=true;
         n++;
        }
      if(!m_sorted)
         for(int i=1;i<n;i++) // insertion sort: rare, and the slots are nearly in order
           {
            string line=m_lines[i],key=m_keys[i];
            long seq=m_seqs[i];
            int kind=m_kinds[i];
            int j=i-1;
            while(j>=0 && m_seqs[j]>seq)
              {
               m_lines[j+1]=m_lines[j];
               m_seqs[j+1]=m_seqs[j];
               m_keys[j+1]=m_keys[j];
               m_kinds[j+1]=m_kinds[j];
               j--;
              }
            m_lines[j+1]=line;
            m_seqs[j+1]=seq;
            m_keys[j+1]=key;
            m_kinds[j+1]=kind;
           }
      m_sorted=true;
      m_size=n;
      m_head=0;
      m_state_count=0;
      ArrayResize(m_states,0);
      for(int i=0;i<n;i++)
         if(m_keys[i]!="")
           {
            ArrayResize(m_states,m_state_count+1,64);
            m_states[m_state_count++]=i;
           }
     }

   bool              OpenLog(void)
     {
      if(m_log!=INVALID_HANDLE)
         return(true);
      ResetLastError();
      m_log=FileOpen(m_log_path,FILE_READ|FILE_WRITE|FILE_BIN|FILE_SHARE_READ);
      if(m_log==INVALID_HANDLE)
        {
         PrintFormat("Tradestate: cannot open %s (error %d); updates are kept in memory",m_log_path,GetLastError());
         return(false);
        }
      return(true);
     }

   void              CloseLog(void)
     {
      if(m_log!=INVALID_HANDLE)
         FileClose(m_log);
      m_log=INVALID_HANDLE;
     }

   //--- Appends lines and flushes them: a pushed update is on disk when Push returns.
   bool              AppendLog(const string text)
     {
      if(!OpenLog())
         return(false);
      FileSeek(m_log,0,SEEK_END);
      uchar bytes[];
      int count=TsUtf8(text,bytes);
      bool ok=(FileWriteArray(m_log,bytes,0,count)==(uint)count);
      FileFlush(m_log);
      if(!ok)
         PrintFormat("Tradestate: writing %s failed (error %d); the queue file is behind",m_log_path,GetLastError());
      return(ok);
     }

   //--- Rewrites the log with the header and the live updates (temp file + rename).
   bool              CompactFile(void)
     {
      CloseLog();
      string temp=m_log_path+".tmp";
      ResetLastError();
      int handle=FileOpen(temp,FILE_WRITE|FILE_BIN);
      if(handle==INVALID_HANDLE)
        {
         PrintFormat("Tradestate: cannot write %s (error %d)",temp,GetLastError());
         return(false);
        }
      string chunk=TsQueueHeader(m_id,m_lane)+"\n";
      bool ok=true;
      uchar bytes[];
      for(int i=m_head;i<m_size && ok;i++)
        {
         if(!m_live[i])
            continue;
         chunk+=m_lines[i]+"\n";
         if(StringLen(chunk)>65536) // write in pieces: one string of the whole queue would be large
           {
            int count=TsUtf8(chunk,bytes);
            ok=(FileWriteArray(handle,bytes,0,count)==(uint)count);
            chunk="";
           }
        }
      if(ok && chunk!="")
        {
         int count=TsUtf8(chunk,bytes);
         ok=(FileWriteArray(handle,bytes,0,count)==(uint)count);
        }
      FileFlush(handle);
      FileClose(handle);
      if(!ok || !FileMove(temp,0,m_log_path,FILE_REWRITE))
        {
         PrintFormat("Tradestate: cannot rewrite %s (error %d)",m_log_path,GetLastError());
         OpenLog();
         return(false);
        }
      m_file_updates=m_count;
      m_file_done=0;
      return(OpenLog());
     }

   void              MaybeCompact(void)
     {
      if(m_file_done>m_count && m_file_done>TS_COMPACT_MIN_DONE)
         CompactFile();
      int dead_slots=m_size-m_count;
      if(dead_slots>4096 && dead_slots>m_count)
         CompactMemory();
     }

   bool              WriteSeqFile(const long reserved)
     {
      if(!TsWriteAtomic(m_seq_path,"reserved="+IntegerToString(reserved)+"\nlogin="+IntegerToString(m_login)+"\n"))
         return(false);
      m_reserved=reserved;
      return(true);
     }

   long              TakeSeq(void)
     {
      long seq=m_next_seq;
      if(seq>m_reserved && !WriteSeqFile(seq+TS_SEQ_BLOCK))
         return(-1);
      m_next_seq++;
      return(seq);
     }

   //--- An update line of the log or of an adopted 1.0 file joins the queue at load.
   void              LoadUpdate(TsRecord &record,long &queued_max)
     {
      long seq=record.Seq();
      queued_max=MathMax(queued_max,seq);
      string key=record.StateKey();
      if(key!="")
        {
         //--- Two lines of one key (a crash came between a newer line and its done line, or an
         //--- adopted 1.0 state): the higher seq wins.
         int other=StateSlot(key);
         if(other>=0 && m_seqs[other]>seq)
           {
            m_file_done++;
            return;
           }
         if(other>=0)
           {
            Kill(other);
            m_file_done++;
           }
        }
      AddSlot(record.Json(),seq,key,record.kind);
     }

   //--- Reads <id>.<lane>.log; false only when it exists and cannot be read.
   bool              LoadLog(long &queued_max,bool &rewrite)
     {
      string lines[];
      int count=0;
      if(!TsReadLines(m_log_path,lines,count))
         return(false);
      if(count==0)
        {
         rewrite=true; // a new lane: write the header
         return(true);
        }
      TsJson json;
      long version=-1;
      if(json.Parse(lines[0]))
         version=json.Integer(0,"tradestate_queue",-1);
      if(version!=TS_QUEUE_VERSION)
        {
         string kept=m_log_path+".v"+(version>=0 ? IntegerToString(version) : "unknown");
         FileMove(m_log_path,0,kept,FILE_REWRITE);
         PrintFormat("Tradestate: %s is not a version %d queue log; it is kept as %s and the lane starts with an empty queue",
                     m_log_path,TS_QUEUE_VERSION,kept);
         rewrite=true;
         return(true);
        }
      int skipped=0;
      TsRecord record;
      for(int i=1;i<count;i++)
        {
         if(lines[i]=="")
            continue;
         if(!json.Parse(lines[i]) || json.types[0]!=TS_J_OBJECT)
           {
            skipped++;
            DeadText(lines[i],"unreadable queue line",json.error);
            continue;
           }
         int done=json.Member(0,"done");
         if(done>=0)
           {
            int items[];
            int n=json.Items(done,items);
            for(int k=0;k<n;k++)
              {
               if(json.types[items[k]]!=TS_J_NUMBER)
                  continue;
               int slot=Find(StringToInteger(json.texts[items[k]]));
               if(slot>=0)
                 {
                  Kill(slot);
                  m_file_done++;
                 }
              }
            continue;
           }
         m_file_updates++;
         if(!record.FromJson(json,0))
           {
            skipped++;
            m_file_done++;
            DeadText(lines[i],"unreadable queue line",record.error);
            continue;
           }
         LoadUpdate(record,queued_max);
        }
      if(skipped>0)
        {
         PrintFormat("Tradestate: %d unreadable line(s) of %s skipped and copied to %s",skipped,m_log_path,m_dead_path);
         rewrite=true;
        }
      return(true);
     }

   //--- Adopts the 1.0 files <id>.queue / <id>.seq: claimed by a rename (one lane wins), read
   //--- once with the 1.0 reader, then deleted once the new log and seq file hold them.
   void              AdoptLegacy(long &queued_max,long &reserved,bool &rewrite,string &claims[])
     {
      string legacy_queue=TS_QUEUE_DIR+"\\"+m_id+TS_LEGACY_QUEUE;
      string legacy_seq=TS_QUEUE_DIR+"\\"+m_id+TS_LEGACY_SEQ;
      string claim_queue=TsLanePrefix(m_id,m_lane)+".legacy";
      string claim_seq=TsLanePrefix(m_id,m_lane)+".legacy-seq";
      ArrayResize(claims,0);
      //--- a claim left by a crash is read again; a seq already queued is not added twice
      if(!FileIsExist(claim_seq,0) && FileIsExist(legacy_seq,0))
         FileMove(legacy_seq,0,claim_seq,0);
      if(FileIsExist(claim_seq,0))
        {
         string lines[];
         int count=0;
         string text="";
         if(TsReadLines(claim_seq,lines,count) && count>0)
           {
            text=lines[0];
            StringTrimLeft(text);
            StringTrimRight(text);
            reserved=MathMax(reserved,StringToInteger(text));
           }
         ArrayResize(claims,ArraySize(claims)+1);
         claims[ArraySize(claims)-1]=claim_seq;
         PrintFormat("Tradestate: adopted the library 1.0 seq reservation of %s (%s) into lane %s",m_id,text,m_lane);
        }
      if(!FileIsExist(claim_queue,0) && FileIsExist(legacy_queue,0))
         FileMove(legacy_queue,0,claim_queue,0);
      if(FileIsExist(claim_queue,0))
        {
         string lines[];
         int count=0;
         if(!TsReadLines(claim_queue,lines,count))
            return;
         int adopted=0,skipped=0;
         TsRecord record;
         for(int i=0;i<count;i++)
           {
            if(lines[i]=="")
               continue;
            if(!record.FromLegacyLine(lines[i]))
              {
               skipped++;
               DeadText(lines[i],"unreadable queue line",record.error);
               continue;
              }
            if(Find(record.Seq())>=0)
               continue;
            LoadUpdate(record,queued_max);
            adopted++;
           }
         PrintFormat("Tradestate: adopted %d queued update(s) of library 1.0 (%s) into lane %s; %d unreadable line(s) copied to %s",
                     adopted,legacy_queue,m_lane,skipped,m_dead_path);
         rewrite=true;
         ArrayResize(claims,ArraySize(claims)+1);
         claims[ArraySize(claims)-1]=claim_queue;
        }
     }

public:
                     TsQueue(void) { m_log=INVALID_HANDLE; Reset(); }
                    ~TsQueue(void) { CloseLog(); }

   //--- Forgets everything in memory (files stay as they are).
   void              Reset(void)
     {
      CloseLog();
      m_id="";
      m_lane="";
      m_size=0;
      m_count=0;
      m_head=0;
      m_sorted=true;
      m_state_count=0;
      ArrayResize(m_states,0);
      ArrayResize(m_lines,0);
      ArrayResize(m_seqs,0);
      ArrayResize(m_keys,0);
      ArrayResize(m_kinds,0);
      ArrayResize(m_live,0);
      m_file_updates=0;
      m_file_done=0;
      m_next_seq=1;
      m_reserved=0;
      m_login=0;
      m_max=100000;
      m_dead_total=0;
      m_open=false;
     }

   //--- Loads the lane's log and seq reservation (adopting 1.0 files of the id). The caller holds
   //--- the lane lock. False (and why) when the files cannot be read or written.
   bool              Open(const string instance_id,const string lane,const int max_items,string &why)
     {
      Reset();
      m_id=instance_id;
      m_lane=lane;
      m_max=MathMax(1,max_items);
      string prefix=TsLanePrefix(instance_id,lane);
      m_log_path=prefix+TS_FILE_LOG;
      m_seq_path=prefix+TS_FILE_SEQ;
      m_dead_path=prefix+TS_FILE_DEAD;
      FolderCreate(TS_QUEUE_DIR,0);
      long reserved=0;
      string lines[];
      int count=0;
      if(!TsReadLines(m_seq_path,lines,count))
        {
         why="cannot read "+m_seq_path;
         return(false);
        }
      for(int i=0;i<count;i++)
        {
         if(StringFind(lines[i],"reserved=")==0)
            reserved=StringToInteger(StringSubstr(lines[i],9));
         else
            if(StringFind(lines[i],"login=")==0)
               m_login=StringToInteger(StringSubstr(lines[i],6));
        }
      long queued_max=0;
      bool rewrite=false;
      if(!LoadLog(queued_max,rewrite))
        {
         why="cannot read "+m_log_path;
         return(false);
        }
      string claims[];
      AdoptLegacy(queued_max,reserved,rewrite,claims);
      m_next_seq=MathMax(MathMax(reserved+1,queued_max+1),TsClockSeq());
      m_reserved=reserved;
      if(!WriteSeqFile(MathMax(reserved,m_next_seq-1)))
        {
         why="cannot write "+m_seq_path;
         return(false);
        }
      if(!m_sorted)
         CompactMemory();
      if(rewrite && !CompactFile())
        {
         why="cannot write "+m_log_path;
         return(false);
        }
      for(int i=0;i<ArraySize(claims);i++)
         FileDelete(claims[i],0);
      if(!OpenLog())
        {
         why="cannot open "+m_log_path;
         return(false);
        }
      m_open=true;
      MaybeCompact(); // a log left with many done lines by an earlier run
      return(true);
     }

   void              Close(void) { CloseLog(); m_open=false; }

   bool              IsOpen(void) const { return(m_open); }
   int               Count(void) const { return(m_count); }
   long              NextSeq(void) const { return(m_next_seq); }
   long              DeadTotal(void) const { return(m_dead_total); }
   long              Login(void) const { return(m_login); }
   string            LogPath(void) const { return(m_log_path); }
   string            DeadPath(void) const { return(m_dead_path); }

   //--- Binds the lane to a login (kept in the .seq file).
   bool              BindLogin(const long login)
     {
      m_login=login;
      return(WriteSeqFile(m_reserved));
     }

   //--- The live slot of a seq, or -1.
   int               Find(const long seq) const
     {
      if(m_sorted)
        {
         int lo=0,hi=m_size-1;
         while(lo<=hi)
           {
            int mid=(lo+hi)/2;
            if(m_seqs[mid]==seq)
               return(m_live[mid] ? mid : -1);
            if(m_seqs[mid]<seq)
               lo=mid+1;
            else
               hi=mid-1;
           }
         return(-1);
        }
      for(int i=m_head;i<m_size;i++)
         if(m_seqs[i]==seq && m_live[i])
            return(i);
      return(-1);
     }

   string            LineAt(const int slot) const { return(m_lines[slot]); }
   long              SeqAt(const int slot) const { return(m_seqs[slot]); }
   int               KindAt(const int slot) const { return(m_kinds[slot]); }

   //--- A queued update of this state key with a seq above `seq`.
   bool              HasNewer(const string key,const long seq) const
     {
      int slot=StateSlot(key);
      return(slot>=0 && m_seqs[slot]>seq);
     }

   //--- Numbers the record (and a signal without signal_id: <lane>:<seq>), queues and persists
   //--- it, replacing a queued state of the same key. Returns the seq, or -1 and why.
   long              Push(TsRecord &record,string &why)
     {
      why="";
      if(!m_open)
        {
         why="the lane is not open";
         return(-1);
        }
      if(record.error!="")
        {
         why=record.error;
         return(-1);
        }
      if(m_count>=m_max && m_head<m_size)
        {
         PrintFormat("Tradestate: queue full (%d updates): the oldest goes to %s; is the gateway reachable?",m_max,m_dead_path);
         Dead(m_seqs[m_head],"queue full (queue_max "+IntegerToString(m_max)+")");
        }
      long seq=TakeSeq();
      if(seq<0)
        {
         why="cannot write "+m_seq_path;
         return(-1);
        }
      record.Int("seq",seq);
      if(record.kind==TS_KIND_SIGNAL && !record.Has("signal_id"))
         record.Text("signal_id",m_lane+":"+IntegerToString(seq));
      if(!record.Complete())
        {
         why=record.error;
         return(-1);
        }
      string key=record.StateKey();
      int older=(key!="") ? StateSlot(key) : -1;
      string line=record.Json();
      string text=line+"\n";
      if(older>=0)
        {
         //--- The new state first: a crash between the two lines leaves both, and the load
         //--- keeps the newer one.
         text+="{\"done\":["+IntegerToString(m_seqs[older])+"]}\n";
         Kill(older);
         m_file_done++;
        }
      AppendLog(text);
      m_file_updates++;
      AddSlot(line,seq,key,record.kind);
      MaybeCompact();
      return(seq);
     }

   //--- These updates left the queue (acknowledged or dead): one done line. Returns how many
   //--- were still queued (a state replaced meanwhile is already gone).
   int               Done(const long &seqs[],const int count)
     {
      string list="";
      int removed=0;
      for(int i=0;i<count;i++)
        {
         int slot=Find(seqs[i]);
         if(slot<0)
            continue;
         Kill(slot);
         list+=(removed>0 ? "," : "")+IntegerToString(seqs[i]);
         removed++;
        }
      if(removed==0)
         return(0);
      AppendLog("{\"done\":["+list+"]}\n");
      m_file_done+=removed;
      MaybeCompact();
      return(removed);
     }

   //--- Moves a queued update to the .dead file with the reason; false when it was not queued.
   //--- unreadable: its line does not read back, so it is kept as text ("line"), not as JSON.
   bool              Dead(const long seq,const string reason,const bool unreadable=false)
     {
      int slot=Find(seq);
      if(slot<0)
         return(false);
      if(unreadable)
         TsAppendLine(m_dead_path,"{\"reason\":"+TsJsonQuote(reason)+",\"line\":"+TsJsonQuote(m_lines[slot])+"}");
      else
         TsAppendLine(m_dead_path,"{\"reason\":"+TsJsonQuote(reason)+",\"update\":"+m_lines[slot]+"}");
      m_dead_total++;
      long one[1];
      one[0]=seq;
      Done(one,1);
      return(true);
     }

   //--- A line that is not an update (unreadable): copied to the .dead file as text, with the
   //--- reason CLIENT.md gives it; what exactly is wrong goes to the log.
   void              DeadText(const string text,const string reason,const string detail)
     {
      TsAppendLine(m_dead_path,"{\"reason\":"+TsJsonQuote(reason)+",\"line\":"+TsJsonQuote(text)+"}");
      m_dead_total++;
      PrintFormat("Tradestate: %s of %s (%s): %s",reason,m_log_path,detail,StringSubstr(text,0,200));
     }

   //--- The gateway holds stored_seq of this lane's instance: number above it from now on.
   void              JumpPast(const long stored_seq)
     {
      if(stored_seq<m_next_seq)
         return;
      m_next_seq=stored_seq+1+TS_SEQ_JUMP_MARGIN;
      if(!WriteSeqFile(m_next_seq+TS_SEQ_BLOCK))
         Print("Tradestate: the seq jump could not be saved; it is kept in memory");
     }

   //--- The slots of the next batch: the instance state, trade states and snapshots (oldest
   //--- first), then signals (oldest first), of the groups allowed, at most `limit`.
   int               Select(const bool &allow[],const int limit,int &slots[])
     {
      ArrayResize(slots,0);
      int n=0;
      for(int pass=0;pass<2 && n<limit;pass++)
         for(int i=0;i<m_state_count && n<limit;i++)
           {
            int slot=m_states[i];
            int grp=TsKindGroup(m_kinds[slot]);
            if((pass==0) != (grp==TS_GROUP_INSTANCE) || !allow[grp])
               continue;
            ArrayResize(slots,n+1,128);
            slots[n++]=slot;
           }
      if(allow[TS_GROUP_SIGNAL])
         for(int i=m_head;i<m_size && n<limit;i++)
           {
            if(!m_live[i] || m_kinds[i]!=TS_KIND_SIGNAL)
               continue;
            ArrayResize(slots,n+1,128);
            slots[n++]=i;
           }
      return(n);
     }

   //--- Whether any live update belongs to an allowed group (without building a batch).
   bool              HasSendable(const bool &allow[]) const
     {
      for(int i=0;i<m_state_count;i++)
         if(allow[TsKindGroup(m_kinds[m_states[i]])])
            return(true);
      if(allow[TS_GROUP_SIGNAL])
         for(int i=m_head;i<m_size;i++)
            if(m_live[i] && m_kinds[i]==TS_KIND_SIGNAL)
               return(true);
      return(false);
     }
  };

#endif // TRADESTATE_QUEUE_MQH
//+------------------------------------------------------------------+
