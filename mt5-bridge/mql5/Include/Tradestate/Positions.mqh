//+------------------------------------------------------------------+
//|                                     Tradestate/Positions.mqh     |
//| What the lane reported open, and how it learns that changed      |
//| (CLIENT.md "Positions and closes", "Pending orders"):            |
//|                                                                  |
//| - the open set: every ticket reported open (a position) or       |
//|   pending (an order) and not closed / cancelled / filled yet,    |
//|   kept in <id>.<lane>.open as "<ticket> <position_id>" lines     |
//|   (position_id 0 for an order), so closes that happen while the  |
//|   terminal is off are found at the next start;                   |
//| - polling, cheap enough for every tick: positions and orders are |
//|   compared with what was last reported (POSITION_TIME_UPDATE_MSC,|
//|   volume, sl/tp; an order's price, volume, sl/tp). Services get  |
//|   no OnTradeTransaction, so this is how the library sees trades; |
//|   in an EA, OnTradeTransaction only makes a ticket due sooner;   |
//| - a ticket of the set that is no longer open is looked up in the |
//|   history: a position leg's close from its deals (History.mqh),  |
//|   an order's end from the history orders. One that is not in the |
//|   history yet is tried again at the next reconcile;              |
//| - the lookback: positions closed while nothing was running, from |
//|   the deals of the last hours, once connected.                   |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_POSITIONS_MQH
#define TRADESTATE_POSITIONS_MQH

#include "Wire.mqh"
#include "Lane.mqh"
#include "Queue.mqh"
#include "Collect.mqh"

class TsPositions
  {
private:
   //--- the open set, with what was last reported of each ticket
   ulong             m_tickets[];
   long              m_ids[];        // POSITION_IDENTIFIER; 0 for a pending order
   bool              m_known[];      // the values below are set (not for entries read from the file)
   long              m_time[];       // position: POSITION_TIME_UPDATE_MSC
   double            m_volume[];
   double            m_sl[];
   double            m_tp[];
   double            m_price[];      // order: ORDER_PRICE_OPEN
   double            m_commission[]; // position: the commission last computed from its deals
   int               m_seen[];       // poll stamp
   bool              m_tried[];      // gone, and looked up once since the last reconcile
   int               m_count;
   int               m_stamp;
   bool              m_changed;      // the file is behind
   string            m_path;
   int               m_dst;
   //--- tickets a transaction touched (EA only)
   ulong             m_due[];
   int               m_due_count;
   //--- the lookback: position ids left to look at
   long              m_lookback[];
   int               m_lookback_count;
   int               m_lookback_next;
   //--- counters for the status line
   long              m_refused;
   int               m_waiting;      // closes not in the history yet at the last reconcile
   ulong             m_last_refusal_print;

   int               Find(const ulong ticket) const
     {
      for(int i=0;i<m_count;i++)
         if(m_tickets[i]==ticket)
            return(i);
      return(-1);
     }

   int               Add(const ulong ticket,const long position_id)
     {
      int i=Find(ticket);
      if(i>=0)
        {
         if(m_ids[i]!=position_id)
            m_changed=true;
         m_ids[i]=position_id;
         return(i);
        }
      i=m_count++;
      ArrayResize(m_tickets,m_count,64);
      ArrayResize(m_ids,m_count,64);
      ArrayResize(m_known,m_count,64);
      ArrayResize(m_time,m_count,64);
      ArrayResize(m_volume,m_count,64);
      ArrayResize(m_sl,m_count,64);
      ArrayResize(m_tp,m_count,64);
      ArrayResize(m_price,m_count,64);
      ArrayResize(m_commission,m_count,64);
      ArrayResize(m_seen,m_count,64);
      ArrayResize(m_tried,m_count,64);
      m_tickets[i]=ticket;
      m_ids[i]=position_id;
      m_known[i]=false;
      m_time[i]=0;
      m_volume[i]=0;
      m_sl[i]=0;
      m_tp[i]=0;
      m_price[i]=0;
      m_commission[i]=0;
      m_seen[i]=m_stamp;
      m_tried[i]=false;
      m_changed=true;
      return(i);
     }

   void              Remove(const ulong ticket)
     {
      int i=Find(ticket);
      if(i<0)
         return;
      int last=--m_count;
      m_tickets[i]=m_tickets[last];
      m_ids[i]=m_ids[last];
      m_known[i]=m_known[last];
      m_time[i]=m_time[last];
      m_volume[i]=m_volume[last];
      m_sl[i]=m_sl[last];
      m_tp[i]=m_tp[last];
      m_price[i]=m_price[last];
      m_commission[i]=m_commission[last];
      m_seen[i]=m_seen[last];
      m_tried[i]=m_tried[last];
      m_changed=true;
     }

   bool              IsDue(const ulong ticket) const
     {
      for(int i=0;i<m_due_count;i++)
         if(m_due[i]==ticket)
            return(true);
      return(false);
     }

   //--- Queues a trade record and keeps the set in step: open / pending add the ticket,
   //--- closed / cancelled / filled remove it. A refused record is not queued; the reason is
   //--- printed (at most once a minute).
   bool              Queue(TsRecord &r,TsQueue &queue)
     {
      string why="";
      if(queue.Push(r,why)<0)
        {
         m_refused++;
         ulong now=GetTickCount64();
         if(m_last_refusal_print==0 || now-m_last_refusal_print>60000)
           {
            Print("Tradestate: trade update not queued: ",why);
            m_last_refusal_print=now;
           }
         return(false);
        }
      string state=r.Value("state");
      if(state=="closed" || state=="cancelled" || state=="filled")
         Remove(TsStringToULong(r.Value("ticket")));
      return(true);
     }

   //--- The position (selected by the caller's PositionGetTicket or here) as an open record.
   void              ReportPosition(const ulong ticket,TsQueue &queue,const bool recount)
     {
      if(!PositionSelectByTicket(ticket))
         return;
      long position_id=PositionGetInteger(POSITION_IDENTIFIER);
      long time=PositionGetInteger(POSITION_TIME_UPDATE_MSC);
      double volume=PositionGetDouble(POSITION_VOLUME);
      double sl=PositionGetDouble(POSITION_SL);
      double tp=PositionGetDouble(POSITION_TP);
      int i=Find(ticket);
      double commission=(i>=0 && m_known[i] && m_ids[i]==position_id && !recount) ? m_commission[i] : TsPositionCommission(position_id);
      TsRecord r;
      TsBuildOpenTrade(r,ticket,commission,m_dst); // selects the position again (the history call above may not keep it)
      i=Add(ticket,position_id);
      m_known[i]=true;
      m_time[i]=time;
      m_volume[i]=volume;
      m_sl[i]=sl;
      m_tp[i]=tp;
      m_commission[i]=commission;
      m_seen[i]=m_stamp;
      m_tried[i]=false;
      Queue(r,queue);
     }

   void              ReportOrder(const ulong ticket,TsQueue &queue)
     {
      TsRecord r;
      if(!OrderSelect(ticket) || TsOrderTypeName(OrderGetInteger(ORDER_TYPE))=="")
         return;
      double price=OrderGetDouble(ORDER_PRICE_OPEN);
      double volume=OrderGetDouble(ORDER_VOLUME_CURRENT);
      double sl=OrderGetDouble(ORDER_SL);
      double tp=OrderGetDouble(ORDER_TP);
      TsBuildPendingOrder(r,ticket,m_dst);
      int i=Add(ticket,0);
      m_known[i]=true;
      m_price[i]=price;
      m_volume[i]=volume;
      m_sl[i]=sl;
      m_tp[i]=tp;
      m_seen[i]=m_stamp;
      m_tried[i]=false;
      Queue(r,queue);
     }

   //--- A ticket of the set that is neither an open position nor a pending order any more.
   //--- True when its end was reported; false when the history does not show it yet.
   bool              ReportGone(const int index,TsQueue &queue)
     {
      ulong ticket=m_tickets[index];
      long position_id=m_ids[index];
      TsRecord r;
      if(position_id>0)
         return(TsBuildClosedTrade(r,position_id,ticket,m_dst) && Queue(r,queue));
      long order_position=0;
      int outcome=TsBuildDoneOrder(r,ticket,m_dst,order_position);
      if(outcome==TS_ORDER_CANCELLED)
         return(Queue(r,queue));
      if(outcome!=TS_ORDER_FILLED)
         return(false);
      if(PositionSelectByTicket(ticket))
        {
         //--- The position carries the order's ticket: the key goes from pending to open.
         ReportPosition(ticket,queue,true);
         return(true);
        }
      if(order_position==(long)ticket)
        {
         //--- It opened its own position, which is already closed again.
         TsRecord closed;
         return(TsBuildClosedTrade(closed,order_position,ticket,m_dst) && Queue(closed,queue));
        }
      return(Queue(r,queue)); // filled into a position with another ticket (netting)
     }

public:
                     TsPositions(void) { Reset(); }

   void              Reset(void)
     {
      m_count=0;
      m_stamp=0;
      m_changed=false;
      m_path="";
      m_dst=TS_DST_US;
      m_due_count=0;
      m_lookback_count=0;
      m_lookback_next=0;
      m_refused=0;
      m_waiting=0;
      m_last_refusal_print=0;
      ArrayResize(m_tickets,0);
      ArrayResize(m_ids,0);
      ArrayResize(m_known,0);
      ArrayResize(m_time,0);
      ArrayResize(m_volume,0);
      ArrayResize(m_sl,0);
      ArrayResize(m_tp,0);
      ArrayResize(m_price,0);
      ArrayResize(m_commission,0);
      ArrayResize(m_seen,0);
      ArrayResize(m_tried,0);
      ArrayResize(m_due,0);
      ArrayResize(m_lookback,0);
     }

   //--- Reads <id>.<lane>.open.
   bool              Load(const string instance_id,const string lane,const int dst_rule)
     {
      Reset();
      m_dst=dst_rule;
      m_path=TsLanePrefix(instance_id,lane)+TS_FILE_OPEN;
      string lines[];
      int count=0;
      if(!TsReadLines(m_path,lines,count))
         return(false);
      for(int i=0;i<count;i++)
        {
         string parts[];
         if(StringSplit(lines[i],(ushort)' ',parts)<2)
            continue;
         ulong ticket=TsStringToULong(parts[0]);
         if(ticket>0)
            Add(ticket,StringToInteger(parts[1]));
        }
      m_changed=false;
      return(true);
     }

   //--- Writes the set when it changed (temp file + rename).
   void              Save(void)
     {
      if(!m_changed || m_path=="")
         return;
      string text="";
      for(int i=0;i<m_count;i++)
         text+=TsULongToString(m_tickets[i])+" "+IntegerToString(m_ids[i])+"\n";
      if(TsWriteAtomic(m_path,text))
         m_changed=false;
     }

   int               Count(void) const { return(m_count); }
   int               Waiting(void) const { return(m_waiting); }
   long              Refused(void) const { return(m_refused); }

   //--- A transaction touched this ticket (EA): report it at the next poll even if it looks the same.
   void              MarkDue(const ulong ticket)
     {
      if(ticket==0 || IsDue(ticket))
         return;
      ArrayResize(m_due,m_due_count+1,64);
      m_due[m_due_count++]=ticket;
     }

   //--- Compares the terminal with what was reported and reports what changed, appeared or
   //--- went away. Runs on every tick while the terminal is connected.
   void              Poll(TsQueue &queue)
     {
      m_stamp++;
      int total=PositionsTotal();
      for(int k=0;k<total;k++)
        {
         ulong ticket=PositionGetTicket(k);
         if(ticket==0)
            continue;
         int i=Find(ticket);
         //--- m_tried: it looked gone (the terminal was still syncing): report it again
         bool changed=(i<0 || !m_known[i] || m_ids[i]==0 || m_tried[i] || IsDue(ticket) ||
                       m_time[i]!=PositionGetInteger(POSITION_TIME_UPDATE_MSC) ||
                       m_volume[i]!=PositionGetDouble(POSITION_VOLUME) ||
                       m_sl[i]!=PositionGetDouble(POSITION_SL) || m_tp[i]!=PositionGetDouble(POSITION_TP) ||
                       m_ids[i]!=PositionGetInteger(POSITION_IDENTIFIER));
         if(changed)
            ReportPosition(ticket,queue,true);
         else
            m_seen[i]=m_stamp;
        }
      total=OrdersTotal();
      for(int k=0;k<total;k++)
        {
         ulong ticket=OrderGetTicket(k);
         if(ticket==0 || TsOrderTypeName(OrderGetInteger(ORDER_TYPE))=="")
            continue;
         int i=Find(ticket);
         if(i>=0 && m_seen[i]==m_stamp)
            continue; // also a position (the order that opened it is still listed)
         bool changed=(i<0 || !m_known[i] || m_ids[i]!=0 || m_tried[i] || IsDue(ticket) ||
                       m_price[i]!=OrderGetDouble(ORDER_PRICE_OPEN) ||
                       m_volume[i]!=OrderGetDouble(ORDER_VOLUME_CURRENT) ||
                       m_sl[i]!=OrderGetDouble(ORDER_SL) || m_tp[i]!=OrderGetDouble(ORDER_TP));
         if(changed)
            ReportOrder(ticket,queue);
         else
            m_seen[i]=m_stamp;
        }
      //--- Gone since the last poll: looked up once now; the reconcile tries again.
      for(int i=m_count-1;i>=0;i--)
        {
         if(i>=m_count || m_seen[i]==m_stamp || m_tried[i])
            continue;
         m_tried[i]=true;
         ReportGone(i,queue);
        }
      m_due_count=0;
      ArrayResize(m_due,0);
      Save();
     }

   //--- Every open position and pending order again (price, profit, swap move without a
   //--- change the poll sees), then every gone ticket of the set from the history.
   void              Reconcile(TsQueue &queue)
     {
      m_stamp++;
      int total=PositionsTotal();
      ulong tickets[];
      ArrayResize(tickets,total);
      int n=0;
      for(int k=0;k<total;k++)
        {
         ulong ticket=PositionGetTicket(k);
         if(ticket>0)
            tickets[n++]=ticket;
        }
      for(int k=0;k<n;k++)
         ReportPosition(tickets[k],queue,false);
      total=OrdersTotal();
      n=0;
      ArrayResize(tickets,total);
      for(int k=0;k<total;k++)
        {
         ulong ticket=OrderGetTicket(k);
         if(ticket>0 && TsOrderTypeName(OrderGetInteger(ORDER_TYPE))!="")
            tickets[n++]=ticket;
        }
      for(int k=0;k<n;k++)
        {
         int i=Find(tickets[k]);
         if(i<0 || m_seen[i]!=m_stamp)
            ReportOrder(tickets[k],queue);
        }
      m_waiting=0;
      for(int i=m_count-1;i>=0;i--)
        {
         if(i>=m_count || m_seen[i]==m_stamp)
            continue;
         m_tried[i]=true;
         if(!ReportGone(i,queue))
            m_waiting++;
        }
      Save();
     }

   //--- The tickets of every open position and pending order, comma-separated (the positions
   //--- snapshot); false when there are more than the contract allows in one snapshot.
   bool              SnapshotTickets(string &tickets) const
     {
      tickets="";
      ulong seen[];
      int n=0;
      int total=PositionsTotal();
      int orders=OrdersTotal(); // read once: the array is sized with it (the list may change meanwhile)
      ArrayResize(seen,total+orders);
      for(int k=0;k<total;k++)
        {
         ulong ticket=PositionGetTicket(k);
         if(ticket>0)
            seen[n++]=ticket;
        }
      total=orders;
      for(int k=0;k<total;k++)
        {
         ulong ticket=OrderGetTicket(k);
         if(ticket==0 || TsOrderTypeName(OrderGetInteger(ORDER_TYPE))=="")
            continue;
         bool twice=false;
         for(int j=0;j<n && !twice;j++)
            twice=(seen[j]==ticket);
         if(!twice)
            seen[n++]=ticket;
        }
      if(n>TS_SNAPSHOT_MAX_TICKETS)
         return(false);
      for(int j=0;j<n;j++)
         tickets+=(j>0 ? "," : "")+TsULongToString(seen[j]);
      return(true);
     }

   //--- Collects the positions with a closing deal in the last `hours` (server time, up to a day
   //--- ahead so deals newer than the last tick count); LookbackStep reports them.
   void              StartLookback(const int hours)
     {
      m_lookback_count=0;
      m_lookback_next=0;
      ArrayResize(m_lookback,0);
      if(hours<=0)
         return;
      long now=(long)TimeTradeServer();
      if(!HistorySelect((datetime)(now-(long)hours*3600),(datetime)(now+86400)))
         return;
      int deals=HistoryDealsTotal();
      for(int i=0;i<deals;i++)
        {
         ulong deal=HistoryDealGetTicket(i);
         long entry=HistoryDealGetInteger(deal,DEAL_ENTRY);
         if(entry!=DEAL_ENTRY_OUT && entry!=DEAL_ENTRY_OUT_BY && entry!=DEAL_ENTRY_INOUT)
            continue;
         long id=HistoryDealGetInteger(deal,DEAL_POSITION_ID);
         bool twice=false;
         for(int j=0;j<m_lookback_count && !twice;j++)
            twice=(m_lookback[j]==id);
         if(twice || id<=0)
            continue;
         ArrayResize(m_lookback,m_lookback_count+1,64);
         m_lookback[m_lookback_count++]=id;
        }
     }

   //--- Reports the closed legs of the collected positions until `deadline` (GetTickCount64);
   //--- true when none is left. Legs still open are skipped (TsBuildClosedTrade says so).
   bool              LookbackStep(TsQueue &queue,const ulong deadline)
     {
      while(m_lookback_next<m_lookback_count && GetTickCount64()<deadline)
        {
         long id=m_lookback[m_lookback_next++];
         TsDeal deals[];
         int n=TsLoadDeals(id,deals);
         //--- the legs: the first under the position id, one per reversing deal (its order)
         ulong legs[];
         int leg_count=0;
         ArrayResize(legs,n+1);
         legs[leg_count++]=(ulong)id;
         for(int i=0;i<n;i++)
            if(deals[i].entry==DEAL_ENTRY_INOUT && deals[i].order>0)
               legs[leg_count++]=deals[i].order;
         int digits=(n>0) ? (int)SymbolInfoInteger(deals[0].symbol,SYMBOL_DIGITS) : 0;
         for(int l=0;l<leg_count;l++)
           {
            TsRecord r;
            if(TsClosedFromDeals(deals,n,legs[l],id,digits,TsServerOffsetSeconds(),(long)TimeGMT(),m_dst,r))
               Queue(r,queue);
           }
        }
      if(m_lookback_next>=m_lookback_count)
        {
         Save();
         return(true);
        }
      return(false);
     }
  };

#endif // TRADESTATE_POSITIONS_MQH
//+------------------------------------------------------------------+
