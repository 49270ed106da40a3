//+------------------------------------------------------------------+
//|                                         Tradestate/Queue.mqh     |
//| Unsent updates and the seq counter, kept in the terminal's own   |
//| MQL5\Files\Tradestate folder so a terminal restart loses nothing |
//| and never reuses a seq (same behaviour as the Rust reference     |
//| client, mt5-bridge/src/client/queue.rs).                         |
//|                                                                  |
//| <id>.queue  one update per line (TsRecord::Line), oldest first;  |
//|             appended on Push, rewritten (temp file + FileMove)   |
//|             on Remove or when a state replaces a queued one.     |
//| <id>.seq    the reservation: no seq above it was handed out; it  |
//|             is raised in blocks of TS_SEQ_BLOCK.                 |
//| A queued instance/trade state is replaced by a newer one of the  |
//| same key (last write wins anyway); signals are never replaced.   |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_QUEUE_MQH
#define TRADESTATE_QUEUE_MQH

#include "Wire.mqh"

#define TS_SEQ_BLOCK  1000
#define TS_QUEUE_DIR  "Tradestate"

class TsQueue
  {
private:
   string            m_path;
   string            m_seq_path;
   string            m_lines[];
   long              m_seqs[];
   string            m_keys[];
   int               m_count;
   long              m_next_seq;
   long              m_reserved;
   int               m_max;

   void              Append(const string line,const long seq,const string key)
     {
      ArrayResize(m_lines,m_count+1,256);
      ArrayResize(m_seqs,m_count+1,256);
      ArrayResize(m_keys,m_count+1,256);
      m_lines[m_count]=line;
      m_seqs[m_count]=seq;
      m_keys[m_count]=key;
      m_count++;
     }

   void              RemoveAt(const int index)
     {
      for(int i=index;i<m_count-1;i++)
        {
         m_lines[i]=m_lines[i+1];
         m_seqs[i]=m_seqs[i+1];
         m_keys[i]=m_keys[i+1];
        }
      m_count--;
     }

   bool              WriteFile(const string path,const string text)
     {
      string temp=path+".tmp";
      ResetLastError();
      int handle=FileOpen(temp,FILE_WRITE|FILE_TXT|FILE_ANSI,'\t',CP_UTF8);
      if(handle==INVALID_HANDLE)
        {
         PrintFormat("Tradestate: cannot write %s (error %d)",temp,GetLastError());
         return(false);
        }
      FileWriteString(handle,text);
      FileClose(handle);
      if(!FileMove(temp,0,path,FILE_REWRITE))
        {
         PrintFormat("Tradestate: cannot replace %s (error %d)",path,GetLastError());
         return(false);
        }
      return(true);
     }

   bool              Rewrite(void)
     {
      string text="";
      for(int i=0;i<m_count;i++)
         text+=m_lines[i]+"\r\n";
      return(WriteFile(m_path,text));
     }

   bool              AppendToFile(const string line)
     {
      ResetLastError();
      int handle=FileOpen(m_path,FILE_READ|FILE_WRITE|FILE_TXT|FILE_ANSI|FILE_SHARE_READ,'\t',CP_UTF8);
      if(handle==INVALID_HANDLE)
        {
         PrintFormat("Tradestate: cannot open %s (error %d)",m_path,GetLastError());
         return(false);
        }
      FileSeek(handle,0,SEEK_END);
      FileWriteString(handle,line+"\r\n");
      FileClose(handle);
      return(true);
     }

   long              TakeSeq(void)
     {
      long seq=m_next_seq;
      if(seq>m_reserved)
        {
         long reserved=seq+TS_SEQ_BLOCK;
         if(!WriteFile(m_seq_path,IntegerToString(reserved)+"\r\n"))
            return(-1);
         m_reserved=reserved;
        }
      m_next_seq++;
      return(seq);
     }

public:
                     TsQueue(void) { m_count=0; m_next_seq=1; m_reserved=0; m_max=100000; }

   //--- Loads the queue and the seq reservation of instance_id.
   bool              Open(const string instance_id,const int max_items)
     {
      m_max=max_items;
      m_count=0;
      m_path=TS_QUEUE_DIR+"\\"+instance_id+".queue";
      m_seq_path=TS_QUEUE_DIR+"\\"+instance_id+".seq";
      FolderCreate(TS_QUEUE_DIR,0);
      long queued_max=0;
      int skipped=0;
      if(FileIsExist(m_path,0))
        {
         int handle=FileOpen(m_path,FILE_READ|FILE_TXT|FILE_ANSI|FILE_SHARE_READ,'\t',CP_UTF8);
         if(handle==INVALID_HANDLE)
           {
            PrintFormat("Tradestate: cannot read %s (error %d)",m_path,GetLastError());
            return(false);
           }
         TsRecord record;
         while(!FileIsEnding(handle))
           {
            string line=FileReadString(handle);
            while(StringLen(line)>0 && StringGetCharacter(line,StringLen(line)-1)=='\r')
               line=StringSubstr(line,0,StringLen(line)-1);
            if(line=="")
               continue;
            if(!record.FromLine(line))
              {
               skipped++; // a line cut short by a crash while appending
               continue;
              }
            long seq=StringToInteger(record.Value("seq"));
            Append(line,seq,record.StateKey());
            queued_max=MathMax(queued_max,seq);
           }
         FileClose(handle);
        }
      long reserved=0;
      if(FileIsExist(m_seq_path,0))
        {
         int handle=FileOpen(m_seq_path,FILE_READ|FILE_TXT|FILE_ANSI|FILE_SHARE_READ,'\t',CP_UTF8);
         if(handle!=INVALID_HANDLE)
           {
            reserved=StringToInteger(FileReadString(handle));
            FileClose(handle);
           }
        }
      m_next_seq=MathMax(MathMax(reserved+1,queued_max+1),1);
      m_reserved=m_next_seq-1;
      if(skipped>0)
        {
         PrintFormat("Tradestate: dropped %d unreadable line(s) of %s",skipped,m_path);
         Rewrite();
        }
      return(true);
     }

   int               Count(void) const { return(m_count); }
   long              NextSeq(void) const { return(m_next_seq); }
   string            LineAt(const int index) const { return(m_lines[index]); }
   long              SeqAt(const int index) const { return(m_seqs[index]); }

   //--- Numbers the record (and a signal without signal_id), queues and persists it.
   //--- Returns the seq, or -1 (the reason is printed).
   long              Push(TsRecord &record,const string instance_id)
     {
      long seq=TakeSeq();
      if(seq<0)
         return(-1);
      record.Int("seq",seq);
      if(record.kind==TS_KIND_SIGNAL && record.Value("signal_id")=="")
         record.Text("signal_id",StringSubstr(instance_id,0,40)+":"+IntegerToString(seq));
      if(!record.Complete())
        {
         Print("Tradestate: update not queued: ",record.error);
         return(-1);
        }
      string key=record.StateKey();
      bool replaced=false;
      if(key!="")
         for(int i=m_count-1;i>=0;i--)
            if(m_keys[i]==key)
              {
               RemoveAt(i);
               replaced=true;
              }
      if(m_count>=m_max)
        {
         PrintFormat("Tradestate: queue full (%d updates): the oldest is dropped; is the gateway reachable?",m_max);
         RemoveAt(0);
         replaced=true;
        }
      string line=record.Line();
      Append(line,seq,key);
      bool saved=replaced ? Rewrite() : AppendToFile(line);
      if(!saved)
         Print("Tradestate: the queue file is behind; updates are kept in memory");
      return(seq);
     }

   //--- Drops the updates with these seqs (acknowledged, or refused for good).
   void              Remove(const long &seqs[],const int count)
     {
      if(count==0)
         return;
      for(int i=m_count-1;i>=0;i--)
         for(int j=0;j<count;j++)
            if(m_seqs[i]==seqs[j])
              {
               RemoveAt(i);
               break;
              }
      Rewrite();
     }
  };

#endif // TRADESTATE_QUEUE_MQH
//+------------------------------------------------------------------+
