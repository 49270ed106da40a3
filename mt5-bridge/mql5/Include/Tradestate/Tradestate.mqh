//+------------------------------------------------------------------+
//|                                    Tradestate/Tradestate.mqh     |
//| Reports this terminal to a Tradestate gateway. Include it in an  |
//| EA, call Init() in OnInit, OnTimer() in OnTimer,                 |
//| OnTradeTransaction() in OnTradeTransaction and Deinit() in       |
//| OnDeinit; emit strategy signals with Signal().                   |
//|                                                                  |
//| - Never in OnTick: OnTradeTransaction only marks positions;      |
//|   snapshots, the queue file and the network run in OnTimer.      |
//| - Heartbeat (instance state) every heartbeat_seconds; each open  |
//|   position on every change and every snapshot_seconds; a closed  |
//|   position once, from the deal history.                          |
//| - Every update gets the next seq; unsent updates wait in         |
//|   MQL5\Files\Tradestate\<id>.queue (Queue.mqh), sent oldest      |
//|   first in batches of batch_max.                                 |
//| - Retry-After / -TRYAGAIN and throttle_ms are honoured; failures |
//|   back off exponentially with jitter (backoff_base..max).        |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_MQH
#define TRADESTATE_MQH

#include "Wire.mqh"
#include "Queue.mqh"
#include "Transport.mqh"
#include "Collect.mqh"
#include "SelfTest.mqh"

#define TS_LIBRARY_VERSION "1.0.0"

enum ENUM_TS_TRANSPORT
  {
   TS_TRANSPORT_HTTP=0,     // HTTP (WebRequest)
   TS_TRANSPORT_RESP=1,     // RESP (socket)
   TS_TRANSPORT_RESP_TLS=2  // RESP over TLS (socket)
  };

struct TsConfig
  {
   string            instance_id;         // 1..64 of [A-Za-z0-9._-]
   string            token;
   int               transport;           // ENUM_TS_TRANSPORT
   string            url;                 // HTTP: http(s)://host:port
   string            resp_host;           // RESP: host
   int               resp_port;           // RESP: port (6390 by default)
   int               heartbeat_seconds;
   int               snapshot_seconds;
   int               batch_max;
   int               timeout_ms;
   int               backoff_base_ms;
   int               backoff_max_ms;
   int               timer_ms;
   int               close_lookback_hours;
   int               queue_max;
   string            ea_version;
   string            signal_stream;
  };

void TsConfigDefaults(TsConfig &c)
  {
   c.instance_id="";
   c.token="";
   c.transport=TS_TRANSPORT_HTTP;
   c.url="http://127.0.0.1:8080";
   c.resp_host="127.0.0.1";
   c.resp_port=6390;
   c.heartbeat_seconds=5;
   c.snapshot_seconds=10;
   c.batch_max=100;
   c.timeout_ms=5000;
   c.backoff_base_ms=500;
   c.backoff_max_ms=30000;
   c.timer_ms=250;
   c.close_lookback_hours=24;
   c.queue_max=100000;
   c.ea_version="";
   c.signal_stream=TS_SIGNAL_STREAM;
  }

//--- A valid instance id: 1..64 of letters, digits, '.', '_', '-'.
bool TsValidInstanceId(const string id)
  {
   int length=StringLen(id);
   if(length<1 || length>64)
      return(false);
   for(int i=0;i<length;i++)
     {
      ushort c=StringGetCharacter(id,i);
      bool ok=(c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9') || c=='.' || c=='_' || c=='-';
      if(!ok)
         return(false);
     }
   return(true);
  }

//--- base * 2^(failures-1) capped at max, then a random point in its upper half.
long TsBackoffMs(const int base_ms,const int max_ms,const int failures)
  {
   long full=base_ms;
   for(int i=1;i<failures && full<max_ms;i++)
      full*=2;
   full=MathMin(full,(long)max_ms);
   long half=full/2;
   long span=full-half;
   long random=(long)MathRand()*32768+MathRand();
   return(half+(span>0 ? random%(span+1) : 0));
  }

class CTradestate
  {
private:
   TsConfig          m_cfg;
   TsQueue           m_queue;
   TsHttp            m_http;
   TsResp            m_resp;
   ulong             m_next_heartbeat;
   ulong             m_next_snapshot;
   ulong             m_not_before;
   int               m_failures;
   int               m_batch_limit;
   //--- open positions reported so far: ticket, POSITION_IDENTIFIER, commission
   ulong             m_known[];
   long              m_known_ids[];
   double            m_known_commission[];
   int               m_known_count;
   //--- positions touched by a transaction since the last timer
   ulong             m_dirty[];
   int               m_dirty_count;
   long              m_acked;
   long              m_invalid;
   string            m_last_error;
   ulong             m_last_error_printed;
   bool              m_ready;

   int               KnownIndex(const ulong ticket) const
     {
      for(int i=0;i<m_known_count;i++)
         if(m_known[i]==ticket)
            return(i);
      return(-1);
     }

   void              Remember(const ulong ticket,const long position_id,const double commission)
     {
      int i=KnownIndex(ticket);
      if(i<0)
        {
         i=m_known_count++;
         ArrayResize(m_known,m_known_count,64);
         ArrayResize(m_known_ids,m_known_count,64);
         ArrayResize(m_known_commission,m_known_count,64);
        }
      m_known[i]=ticket;
      m_known_ids[i]=position_id;
      m_known_commission[i]=commission;
     }

   void              Forget(const ulong ticket)
     {
      int i=KnownIndex(ticket);
      if(i<0)
         return;
      m_known_count--;
      m_known[i]=m_known[m_known_count];
      m_known_ids[i]=m_known_ids[m_known_count];
      m_known_commission[i]=m_known_commission[m_known_count];
     }

   void              MarkDirty(const ulong ticket)
     {
      for(int i=0;i<m_dirty_count;i++)
         if(m_dirty[i]==ticket)
            return;
      ArrayResize(m_dirty,m_dirty_count+1,64);
      m_dirty[m_dirty_count++]=ticket;
     }

   void              Enqueue(TsRecord &record)
     {
      m_queue.Push(record,m_cfg.instance_id);
     }

   //--- A position touched by a transaction: its open state, or its close from the history.
   void              Refresh(const ulong ticket)
     {
      TsRecord record;
      if(PositionSelectByTicket(ticket))
        {
         long position_id=PositionGetInteger(POSITION_IDENTIFIER);
         double commission=TsPositionCommission(position_id);
         Remember(ticket,position_id,commission);
         if(TsBuildOpenTrade(record,ticket,commission))
            Enqueue(record);
         return;
        }
      int i=KnownIndex(ticket);
      long position_id=(i>=0) ? m_known_ids[i] : (long)ticket;
      if(TsBuildClosedTrade(record,position_id,ticket))
        {
         Enqueue(record);
         Forget(ticket);
        }
      else
         if(i<0)
            Print("Tradestate: ",record.error);
     }

   //--- Every open position, and closes the transactions did not show.
   void              Reconcile(void)
     {
      int total=PositionsTotal();
      ulong open[];
      ArrayResize(open,total);
      int count=0;
      for(int i=0;i<total;i++)
        {
         ulong ticket=PositionGetTicket(i);
         if(ticket>0)
            open[count++]=ticket;
        }
      for(int i=0;i<count;i++)
        {
         int known=KnownIndex(open[i]);
         if(known<0)
           {
            Refresh(open[i]);
            continue;
           }
         TsRecord record;
         if(TsBuildOpenTrade(record,open[i],m_known_commission[known]))
            Enqueue(record);
        }
      for(int k=m_known_count-1;k>=0;k--)
        {
         bool still_open=false;
         for(int i=0;i<count && !still_open;i++)
            still_open=(open[i]==m_known[k]);
         if(!still_open)
            MarkDirty(m_known[k]);
        }
     }

   //--- Positions closed in the last hours (e.g. while the terminal was off).
   void              ReportRecentCloses(void)
     {
      datetime now=TimeCurrent();
      if(m_cfg.close_lookback_hours<=0 || !HistorySelect(now-m_cfg.close_lookback_hours*3600,now))
         return;
      long ids[];
      int count=0;
      int deals=HistoryDealsTotal();
      for(int i=0;i<deals;i++)
        {
         ulong deal=HistoryDealGetTicket(i);
         long entry=HistoryDealGetInteger(deal,DEAL_ENTRY);
         if(entry!=DEAL_ENTRY_OUT && entry!=DEAL_ENTRY_OUT_BY)
            continue;
         long id=HistoryDealGetInteger(deal,DEAL_POSITION_ID);
         bool seen=false;
         for(int j=0;j<count && !seen;j++)
            seen=(ids[j]==id);
         if(!seen)
           {
            ArrayResize(ids,count+1,64);
            ids[count++]=id;
           }
        }
      for(int j=0;j<count;j++)
        {
         if(PositionSelectByTicket((ulong)ids[j]))
            continue;
         TsRecord record;
         if(TsBuildClosedTrade(record,ids[j],(ulong)ids[j]))
            Enqueue(record);
        }
     }

   void              Report(const string error)
     {
      m_last_error=error;
      ulong now=GetTickCount64();
      if(error!="" && (now-m_last_error_printed>60000 || m_last_error_printed==0))
        {
         Print("Tradestate: ",error," (",m_queue.Count()," updates queued; retrying)");
         m_last_error_printed=now;
        }
     }

   //--- One batch; false when the next one should wait.
   bool              SendBatch(void)
     {
      int count=MathMin(m_queue.Count(),m_batch_limit);
      if(count==0)
         return(false);
      string entries[];
      long seqs[];
      ArrayResize(entries,count);
      ArrayResize(seqs,count);
      TsRecord record;
      for(int i=0;i<count;i++)
        {
         seqs[i]=m_queue.SeqAt(i);
         if(!record.FromLine(m_queue.LineAt(i)))
           {
            entries[i]="";
            continue;
           }
         entries[i]=(m_cfg.transport==TS_TRANSPORT_HTTP) ? record.Json() : record.Resp(m_cfg.instance_id,m_cfg.signal_stream);
        }
      TsSendResult result;
      if(m_cfg.transport==TS_TRANSPORT_HTTP)
         m_http.Send(m_cfg.instance_id,entries,count,result);
      else
         m_resp.Send(m_cfg.instance_id,m_cfg.token,entries,count,result);
      long done[];
      int done_count=0;
      ArrayResize(done,count);
      for(int i=0;i<count;i++)
        {
         if(result.outcomes[i]==TS_OUT_RETRY)
            continue;
         if(result.outcomes[i]==TS_OUT_INVALID)
           {
            m_invalid++;
            PrintFormat("Tradestate: update seq %I64d refused as invalid and dropped: %s",seqs[i],result.error);
           }
         else
            m_acked++;
         done[done_count++]=seqs[i];
        }
      m_queue.Remove(done,done_count);
      ulong now=GetTickCount64();
      if(result.too_large)
        {
         m_batch_limit=MathMax(1,count/2);
         return(true);
        }
      if(result.failed)
        {
         m_failures++;
         long wait=result.fatal ? m_cfg.backoff_max_ms : TsBackoffMs(m_cfg.backoff_base_ms,m_cfg.backoff_max_ms,m_failures);
         m_not_before=now+(ulong)MathMax(wait,result.retry_after_ms);
         Report(result.error);
         return(false);
        }
      if(m_failures>0)
         Print("Tradestate: delivering again");
      m_failures=0;
      m_last_error="";
      m_batch_limit=m_cfg.batch_max;
      m_not_before=now+(ulong)MathMax(result.throttle_ms,0);
      return(result.throttle_ms<=0);
     }

public:
                     CTradestate(void) { m_ready=false; m_known_count=0; m_dirty_count=0; m_acked=0; m_invalid=0; m_last_error_printed=0; }

   //--- Checks the config and the wire self-test, loads the queue, starts the timer.
   bool              Init(const TsConfig &cfg)
     {
      m_cfg=cfg;
      if(m_cfg.instance_id=="")
         m_cfg.instance_id="mt5-"+IntegerToString(AccountInfoInteger(ACCOUNT_LOGIN));
      if(!TsValidInstanceId(m_cfg.instance_id))
        {
         Print("Tradestate: InstanceId '",m_cfg.instance_id,"' must be 1..64 letters, digits, '.', '_' or '-'");
         return(false);
        }
      if(m_cfg.token=="")
        {
         Print("Tradestate: set the Token input (the gateway's token for ",m_cfg.instance_id,")");
         return(false);
        }
      string report="";
      if(!TsSelfTest(report))
        {
         Print("Tradestate: wire self-test failed, this build would send wrong data: ",report);
         return(false);
        }
      if(!m_queue.Open(m_cfg.instance_id,m_cfg.queue_max))
         return(false);
      m_http.url=m_cfg.url;
      StringTrimRight(m_http.url);
      while(StringLen(m_http.url)>0 && StringGetCharacter(m_http.url,StringLen(m_http.url)-1)=='/')
         m_http.url=StringSubstr(m_http.url,0,StringLen(m_http.url)-1);
      m_http.token=m_cfg.token;
      m_http.timeout_ms=m_cfg.timeout_ms;
      m_resp.host=m_cfg.resp_host;
      m_resp.port=(uint)m_cfg.resp_port;
      m_resp.tls=(m_cfg.transport==TS_TRANSPORT_RESP_TLS);
      m_resp.timeout_ms=m_cfg.timeout_ms;
      m_batch_limit=MathMax(1,m_cfg.batch_max);
      m_failures=0;
      m_not_before=0;
      m_next_heartbeat=0;
      m_next_snapshot=GetTickCount64()+(ulong)m_cfg.snapshot_seconds*1000;
      MathSrand((int)(GetTickCount()^(uint)AccountInfoInteger(ACCOUNT_LOGIN)));
      for(int i=PositionsTotal()-1;i>=0;i--)
        {
         ulong ticket=PositionGetTicket(i);
         if(ticket>0)
            MarkDirty(ticket);
        }
      ReportRecentCloses();
      if(!EventSetMillisecondTimer(m_cfg.timer_ms))
        {
         Print("Tradestate: EventSetMillisecondTimer failed, error ",GetLastError());
         return(false);
        }
      m_ready=true;
      PrintFormat("Tradestate %s: reporting as %s, %d updates queued from before, next seq %I64d",
                  TS_LIBRARY_VERSION,m_cfg.instance_id,m_queue.Count(),m_queue.NextSeq());
      return(true);
     }

   void              Deinit(void)
     {
      EventKillTimer();
      m_resp.Close();
      m_ready=false;
     }

   void              OnTimer(void)
     {
      if(!m_ready)
         return;
      ulong now=GetTickCount64();
      if(now>=m_next_heartbeat)
        {
         m_next_heartbeat=now+(ulong)m_cfg.heartbeat_seconds*1000;
         TsRecord record;
         if(TsBuildInstance(record,m_cfg.ea_version))
            Enqueue(record);
        }
      if(now>=m_next_snapshot)
        {
         m_next_snapshot=now+(ulong)m_cfg.snapshot_seconds*1000;
         Reconcile();
        }
      if(m_dirty_count>0)
        {
         ulong dirty[];
         int count=m_dirty_count;
         ArrayCopy(dirty,m_dirty,0,0,count);
         m_dirty_count=0;
         for(int i=0;i<count;i++)
            Refresh(dirty[i]);
        }
      //--- A few batches per timer at most, so the EA's other events are not held up.
      for(int batch=0;batch<4 && m_queue.Count()>0 && GetTickCount64()>=m_not_before;batch++)
         if(!SendBatch())
            break;
     }

   //--- Only marks the position: the snapshot is taken in OnTimer, when the deal is in history.
   void              OnTradeTransaction(const MqlTradeTransaction &trans,const MqlTradeRequest &request,const MqlTradeResult &result)
     {
      if(!m_ready)
         return;
      if((trans.type==TRADE_TRANSACTION_DEAL_ADD || trans.type==TRADE_TRANSACTION_POSITION) && trans.position>0)
         MarkDirty(trans.position);
     }

   //--- Queues a trade signal; EMPTY_VALUE / LONG_MIN / "" leave a field out. Returns its seq
   //--- (-1 when refused; the reason is printed). Without signal_id one is made from the seq.
   long              Signal(const string strategy,const string symbol,const string action,
                            const double volume=EMPTY_VALUE,const double price=EMPTY_VALUE,
                            const double sl=EMPTY_VALUE,const double tp=EMPTY_VALUE,
                            const long magic=LONG_MIN,const string comment="",const string signal_id="")
     {
      TsRecord record;
      record.Start(TS_KIND_SIGNAL);
      if(signal_id!="")
         record.Text("signal_id",signal_id);
      record.Int("time_msc",TsNowMsc());
      record.Text("strategy",strategy);
      record.Text("symbol",symbol);
      record.Text("action",action);
      if(volume!=EMPTY_VALUE)
         record.Num("volume",volume);
      if(price!=EMPTY_VALUE)
         record.Num("price",price);
      if(sl!=EMPTY_VALUE)
         record.Num("sl",sl);
      if(tp!=EMPTY_VALUE)
         record.Num("tp",tp);
      if(magic!=LONG_MIN)
         record.Int("magic",magic);
      if(comment!="")
         record.Text("comment",comment);
      return(m_queue.Push(record,m_cfg.instance_id));
     }

   string            InstanceId(void) const { return(m_cfg.instance_id); }
   int               Queued(void) const { return(m_queue.Count()); }

   //--- One line for Comment().
   string            Status(void) const
     {
      string text=StringFormat("Tradestate %s: %d queued, %I64d acknowledged",m_cfg.instance_id,m_queue.Count(),m_acked);
      if(m_invalid>0)
         text+=StringFormat(", %I64d refused as invalid",m_invalid);
      if(m_last_error!="")
         text+="\nlast error: "+m_last_error;
      return(text);
     }
  };

#endif // TRADESTATE_MQH
//+------------------------------------------------------------------+
